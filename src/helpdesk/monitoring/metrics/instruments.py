"""The request, database and cache instruments (module-level, multiprocess-safe).

Names and labels follow the metric-name contract (OpenTelemetry HTTP semantic conventions,
base units); docs/metrics.md documents each. Label children are resolved once per label
combination and kept in dicts, so recording a request costs dict lookups, not label
validation.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable
from threading import Lock
from typing import Any

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
    ["http_request_method", "http_route"],
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


# One lock for every value cell the request path writes, in single-process mode. The
# middleware takes it once per request and updates the cells' floats directly; the cells'
# own methods (prometheus_client's observe/inc/get, the exposition) use the same lock, as
# ``share_lock`` makes it their ``_lock``, so every writer and reader stays serialised.
# Multiprocess cells (prometheus_client's mmap-backed values) keep their own methods.
CELL_LOCK = Lock()
MULTIPROCESS = bool(getattr(ACTIVE_REQUESTS._value, "_multiprocess", True))


def share_lock(*cells: Any) -> None:
    """Make CELL_LOCK the lock of single-process value cells (a no-op in multiprocess mode)."""
    if not MULTIPROCESS:
        for cell in cells:
            cell._lock = CELL_LOCK


class FastHistogram:
    """Record into a histogram child with two value increments (what ``observe`` ends in).

    ``Histogram.observe`` checks observability and walks the bounds in Python on every call;
    on the request path we resolve the child's value cells once and pick the bucket with
    ``bisect`` (first bound >= value, as observe's ``value <= bound`` walk). The cells are
    prometheus_client's own (in-memory or multiprocess files), so exposition is unchanged;
    tests/test_metrics.py compares against ``observe``. ``add`` is the single-process variant
    for a caller that already holds CELL_LOCK (several observations under one lock).
    """

    __slots__ = ("_bounds", "_bucket_incs", "_cells", "_sum", "_sum_inc")

    def __init__(self, child: Any) -> None:
        self._bounds: list[float] = list(child._upper_bounds)
        self._cells: list[Any] = list(child._buckets)
        self._sum: Any = child._sum
        share_lock(self._sum, *self._cells)
        self._bucket_incs: list[Callable[[float], None]] = [cell.inc for cell in self._cells]
        self._sum_inc: Callable[[float], None] = child._sum.inc

    def observe(self, value: float) -> None:
        """Add one observation (takes the cells' lock; any mode)."""
        self._sum_inc(value)
        self._bucket_incs[bisect_left(self._bounds, value)](1)

    def add(self, value: float) -> None:
        """Add one observation; single-process mode only, with CELL_LOCK held by the caller."""
        self._sum._value += value
        self._cells[bisect_left(self._bounds, value)]._value += 1


def fast_inc(metric: Any) -> Callable[[float], None]:
    """Return the increment function of a label-less gauge/counter's value cell."""
    share_lock(metric._value)
    inc: Callable[[float], None] = metric._value.inc
    return inc


REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[FastHistogram, FastHistogram]] = {}
_alias_children: dict[str, tuple[FastHistogram, FastHistogram]] = {}
_exception_children: dict[str, Any] = {}


def request_children(method: str, route: str, status: int) -> tuple[FastHistogram, FastHistogram]:
    """Return the (duration, response size) histograms of a request's labels (cached)."""
    key = (method, route, status)
    children = REQUEST_CHILDREN.get(key)
    if children is None:
        children = (
            FastHistogram(REQUEST_DURATION.labels(method, route, str(status))),
            FastHistogram(RESPONSE_SIZE.labels(method, route)),
        )
        REQUEST_CHILDREN[key] = children
    return children


def db_children(alias: str) -> tuple[FastHistogram, FastHistogram]:
    """Return the (operation duration, queries per request) histograms of an alias (cached)."""
    children = _alias_children.get(alias)
    if children is None:
        children = _alias_children[alias] = (
            FastHistogram(DB_DURATION.labels(alias)),
            FastHistogram(DB_QUERIES_PER_REQUEST.labels(alias)),
        )
    return children


def count_exception(exc: BaseException) -> None:
    """Count a view exception under its class name (bounded, see MAX_EXCEPTION_TYPES)."""
    name = type(exc).__qualname__
    child = _exception_children.get(name)
    if child is None:
        if len(_exception_children) >= MAX_EXCEPTION_TYPES:
            name = "other"
        child = _exception_children.setdefault(name, EXCEPTIONS.labels(name))
    child.inc()
