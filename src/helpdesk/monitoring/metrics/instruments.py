"""The request, database and cache instruments (module-level, multiprocess-safe).

Names and labels follow the metric-name contract (OpenTelemetry HTTP semantic conventions,
base units); docs/metrics.md documents each.
"""

from __future__ import annotations

import logging
from threading import Lock

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

logger = logging.getLogger(__name__)

# `_created` series double the single-process output and do not exist in multiprocess mode;
# Prometheus does not need them to handle counter resets.
disable_created_metrics()

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)
QUERY_COUNT_BUCKETS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
DB_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
OTHER_METHOD = "_OTHER"
UNMATCHED_ROUTE = "unmatched"
# Every page of the Django admin shares one route label: its hundred-odd routes would otherwise
# multiply the series (and the scrape's cost) for pages only staff open.
ADMIN_ROUTE = "admin/*"
# Exception classes get their own label value up to this many; later ones share "other".
MAX_EXCEPTION_TYPES = 50

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests.",
    ["http_request_method", "http_route", "http_response_status_code"],
    buckets=DURATION_BUCKETS,
)
ACTIVE_REQUESTS = Gauge(
    "http_server_active_requests",
    "HTTP server requests in flight.",
    # livesum: the in-flight count of the server is the sum over live workers; a dead
    # worker's requests are not in flight any more.
    multiprocess_mode="livesum",
)
RESPONSE_SIZE = Histogram(
    "http_server_response_body_size_bytes",
    "Size of HTTP server response bodies.",
    # No route label: per route it would be a quarter of the server's series (and of the
    # scrape's cost) for a figure no dashboard or alert reads by route.
    ["http_request_method"],
    buckets=SIZE_BUCKETS,
)
EXCEPTIONS = Counter(
    "http_server_exceptions",
    "Exceptions raised by views, by class (bounded; later classes count as other).",
    ["exception_type"],
)
DB_DURATION = Histogram(
    "db_client_operation_duration_seconds",
    "Duration of database operations.",
    ["db_alias"],
    buckets=DB_DURATION_BUCKETS,
)
DB_QUERIES_PER_REQUEST = Histogram(
    "db_client_queries_per_request",
    "Database operations per HTTP request.",
    ["db_alias"],
    buckets=QUERY_COUNT_BUCKETS,
)
DB_ERRORS = Counter(
    "db_client_errors", "Database operations that raised, by class.", ["db_alias", "error_type"]
)
CACHE_HITS = Counter("helpdesk_cache_hits", "Cache reads that found the key.", ["cache_alias"])
CACHE_MISSES = Counter(
    "helpdesk_cache_misses", "Cache reads that did not find the key.", ["cache_alias"]
)
CACHE_ERRORS = Counter("helpdesk_cache_errors", "Cache operations that raised.", ["cache_alias"])


_exception_types: set[str] = set()
_exception_lock = Lock()


def count_exception(exc: BaseException) -> None:
    """Count a view exception under its class name (bounded, see MAX_EXCEPTION_TYPES)."""
    name = type(exc).__qualname__
    with _exception_lock:
        if name not in _exception_types:
            if len(_exception_types) >= MAX_EXCEPTION_TYPES:
                name = "other"
            else:
                _exception_types.add(name)
    EXCEPTIONS.labels(name).inc()
