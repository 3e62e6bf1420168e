"""Per-request timing of database and cache work, read by the metrics middleware.

``MetricsMiddleware`` puts a ``RequestTiming`` in a context variable for the request. The
database wrapper (installed once per connection through ``connection_created``, so a request
pays nothing to set it up) times every query, records ``db_client_operation_duration_seconds``
and errors, and adds to the current request's figures; the cache backends
(``helpdesk.monitoring.metrics.cache``) add their time the same way. Outside a request (the
worker, management commands) queries are still measured, just not attributed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from helpdesk.monitoring.metrics.instruments import DB_ERRORS, db_children

logger = logging.getLogger(__name__)


class RequestTiming:
    """Database and cache figures of one request (the default alias as attributes, others aside).

    The figures start as class-level defaults, so making one per request runs no Python
    ``__init__`` (a frame the trivial request would otherwise pay); the first ``+=`` gives
    the instance its own value. ``other_aliases`` is only ever replaced, never mutated in
    place, while it is the shared ``None``.
    """

    queries: int = 0
    db_seconds: float = 0.0
    cache_seconds: float = 0.0
    # alias -> [queries, seconds] for databases other than "default" (rare: built lazily).
    other_aliases: dict[str, list[float]] | None = None


current_timing: ContextVar[RequestTiming | None] = ContextVar(
    "helpdesk_request_timing", default=None
)


class QueryTimer:
    """An execute wrapper for one connection: time, count and attribute each query."""

    __slots__ = ("alias", "observe")

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.observe = db_children(alias)[0].observe

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        start = perf_counter()
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            DB_ERRORS.labels(self.alias, type(exc).__name__).inc()
            raise
        finally:
            elapsed = perf_counter() - start
            self.observe(elapsed)
            timing = current_timing.get()
            if timing is not None:
                if self.alias == "default":
                    timing.queries += 1
                    timing.db_seconds += elapsed
                else:
                    if timing.other_aliases is None:
                        timing.other_aliases = {}
                    figures = timing.other_aliases.setdefault(self.alias, [0, 0.0])
                    figures[0] += 1
                    figures[1] += elapsed


def install(connection: BaseDatabaseWrapper, **_: Any) -> None:
    """Put a QueryTimer on a connection (``connection_created`` receiver; idempotent)."""
    if not any(isinstance(w, QueryTimer) for w in connection.execute_wrappers):
        connection.execute_wrappers.append(QueryTimer(connection.alias))
