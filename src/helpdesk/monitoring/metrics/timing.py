"""Per-request timing of database and cache work, read by the metrics middleware.

``DbTimer`` is a ``connection.execute_wrapper``: it times every query on one alias, counts it
for the request and records ``db_client_operation_duration_seconds`` and errors. The cache
backends (``helpdesk.monitoring.metrics.cache``) add their time to the request's
``CacheTimer``, found through a context variable so they need no reference to the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from helpdesk.monitoring.metrics.instruments import DB_ERRORS

logger = logging.getLogger(__name__)


class CacheTimer:
    """Seconds spent in cache calls during one request."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0


current_cache_timer: ContextVar[CacheTimer | None] = ContextVar(
    "helpdesk_cache_timer", default=None
)


class DbTimer:
    """Time and count the queries of one database alias (an execute wrapper)."""

    __slots__ = ("alias", "duration", "queries", "seconds")

    def __init__(self, alias: str, duration: Any) -> None:
        self.alias = alias
        self.duration = duration
        self.queries = 0
        self.seconds = 0.0

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
            self.queries += 1
            self.seconds += elapsed
            self.duration.observe(elapsed)
