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
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from helpdesk.monitoring.metrics.instruments import DB_DURATION, DB_ERRORS

logger = logging.getLogger(__name__)


@dataclass
class RequestTiming:
    """Database and cache figures of one request: queries per database alias, time spent."""

    queries: Counter[str] = field(default_factory=Counter)
    db_seconds: float = 0.0
    cache_seconds: float = 0.0


current_timing: ContextVar[RequestTiming | None] = ContextVar(
    "helpdesk_request_timing", default=None
)


class QueryTimer:
    """An execute wrapper for one connection: time, count and attribute each query."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.duration = DB_DURATION.labels(alias)

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
            self.duration.observe(elapsed)
            timing = current_timing.get()
            if timing is not None:
                timing.queries[self.alias] += 1
                timing.db_seconds += elapsed


def install(connection: BaseDatabaseWrapper, **_: Any) -> None:
    """Put a QueryTimer on a connection (``connection_created`` receiver; idempotent)."""
    if not any(isinstance(w, QueryTimer) for w in connection.execute_wrappers):
        connection.execute_wrappers.append(QueryTimer(connection.alias))
