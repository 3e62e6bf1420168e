"""Request metrics and performance headers (the spec's PerformanceMiddleware, done right).

``MetricsMiddleware`` sits right after ``helpdesk.lib.request_context.RequestContextMiddleware``
(which owns the request id) and, for every request except MONITORING_UNTRACKED_PATHS:

- records ``http_server_request_duration_seconds`` {method, route template, status},
  ``http_server_response_body_size_bytes``, ``http_server_active_requests``,
  ``db_client_queries_per_request`` and (via ``DbTimer``) per-query database metrics;
- sets ``X-Response-Time: 0.012s`` and W3C ``Server-Timing``
  (``app;dur=…, db;dur=…;desc="N queries", cache;dur=…``, milliseconds);
- logs requests slower than SLOW_REQUEST_SECONDS at WARNING with route, method, status,
  duration, database time and query count (the request id comes with the log context).

The route label is the resolver's template (``api/v1/tickets/<pk>/``), never the raw path;
unresolved paths are ``unmatched`` and unknown methods ``_OTHER``, so label values stay bounded.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left
from collections.abc import Callable
from time import perf_counter

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import ResponseHeaders

from helpdesk.monitoring.metrics.instruments import (
    ACTIVE_REQUESTS,
    CELL_LOCK,
    KNOWN_METHODS,
    MULTIPROCESS,
    OTHER_METHOD,
    REQUEST_CHILDREN,
    UNMATCHED_ROUTE,
    FastHistogram,
    count_exception,
    db_children,
    fast_inc,
    request_children,
)
from helpdesk.monitoring.metrics.timing import RequestTiming, current_timing

logger = logging.getLogger(__name__)

# DRF routers write regex patterns; the label shows them as path templates.
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_routes: dict[str, str] = {}


def route_template(route: str) -> str:
    """Return the label for a resolver route: regex groups become ``<name>``, anchors go."""
    template = _routes.get(route)
    if template is None:
        template = _NAMED_GROUP.sub(r"<\1>", route)
        template = template.replace("^", "").replace("$", "").replace("\\.", ".")
        _routes[route] = template
    return template


def _headers_store_works() -> bool:
    """Return whether Django's ResponseHeaders keeps ``lower-name -> (name, value)`` in _store."""
    headers = ResponseHeaders({})
    headers["X-Probe"] = "1"
    return getattr(headers, "_store", None) == {"x-probe": ("X-Probe", "1")}


# Our two header values are ASCII we format ourselves, so the charset and newline checks of
# ``response[name] = value`` (about 0.6 µs a header) have nothing to catch: with a Django
# whose ResponseHeaders still store pairs as checked here, we write them straight in.
_FAST_HEADERS = _headers_store_works()
_NO_WORK_TIMING = 'app;dur=%.1f, db;dur=0.0;desc="0 queries", cache;dur=0.0'
_TIMING = 'app;dur=%.1f, db;dur=%.1f;desc="%d queries", cache;dur=%.1f'


def _streamed_size(response: HttpResponse) -> int | None:
    """Return a streaming response's declared Content-Length, or None when it has none."""
    length = response.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def _add_other_aliases(
    other: dict[str, list[float]], queries: int, db_seconds: float
) -> tuple[int, float]:
    """Record the queries per request of databases other than "default"; return the totals."""
    for alias, (count, seconds) in other.items():
        db_children(alias)[1].observe(count)
        queries += int(count)
        db_seconds += seconds
    return queries, db_seconds


class MetricsMiddleware:
    """Measure each request (see the module docstring).

    The hot path is kept to two clock reads, a context variable, cached label children and,
    in single-process mode, one lock around direct updates of the value cells: the overhead
    budget is a few microseconds per request (benchmarks/bench_metrics.py).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.exclude = tuple(settings.MONITORING_UNTRACKED_PATHS)
        self.slow = float(getattr(settings, "SLOW_REQUEST_SECONDS", 1.0))
        self.in_flight = fast_inc(ACTIVE_REQUESTS)
        self.active = ACTIVE_REQUESTS._value
        self.queries_histogram = db_children("default")[1]

    def __call__(self, request: HttpRequest) -> HttpResponse:  # noqa: PLR0915 - one frame
        if request.path_info.startswith(self.exclude):
            return self.get_response(request)
        start = perf_counter()
        if MULTIPROCESS:
            self.in_flight(1)
        else:
            with CELL_LOCK:  # the cell's own inc would take this lock too, in one more frame
                self.active._value += 1
        timing = RequestTiming()
        token = current_timing.set(timing)
        try:
            response = self.get_response(request)
        except BaseException:
            current_timing.reset(token)
            self.in_flight(-1)
            raise
        current_timing.reset(token)
        elapsed = perf_counter() - start

        queries = timing.queries
        # Recording is written out here rather than in helper methods: each Python frame
        # costs about as much as the bookkeeping it would hold (benchmarks/
        # bench_metrics_instructions.py counts them).
        method = request.method
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        match = request.resolver_match
        if match is None:
            route = UNMATCHED_ROUTE
        else:
            route = _routes.get(match.route) or route_template(match.route)
        status = response.status_code
        duration, size = REQUEST_CHILDREN.get((method, route, status)) or request_children(
            method, route, status
        )
        body: int | None
        if response.streaming:
            body = _streamed_size(response)
        else:
            # HttpResponse keeps its body as a list of bytes; summing their lengths spares
            # ``content`` joining them into a copy just to be measured.
            container = getattr(response, "_container", None)
            body = sum(map(len, container)) if type(container) is list else len(response.content)
        if MULTIPROCESS:
            self._record_multiprocess(duration, size, elapsed, body, queries)
        else:
            # FastHistogram.add written out (three frames fewer per request): the sum cell
            # and the bucket cell of each histogram. Nothing here may take CELL_LOCK again
            # (it is not reentrant).
            queries_histogram = self.queries_histogram
            with CELL_LOCK:
                self.active._value -= 1
                duration._sum._value += elapsed
                duration._cells[bisect_left(duration._bounds, elapsed)]._value += 1
                if body is not None:
                    size._sum._value += body
                    size._cells[bisect_left(size._bounds, body)]._value += 1
                queries_histogram._sum._value += queries
                queries_histogram._cells[
                    bisect_left(queries_histogram._bounds, queries)
                ]._value += 1
        db_seconds = timing.db_seconds
        if timing.other_aliases is not None:
            queries, db_seconds = _add_other_aliases(timing.other_aliases, queries, db_seconds)
        cache_seconds = timing.cache_seconds
        response_time = f"{elapsed:.3f}s"
        if queries or cache_seconds:
            server_timing = _TIMING % (
                elapsed * 1000,
                db_seconds * 1000,
                queries,
                cache_seconds * 1000,
            )
        else:
            server_timing = _NO_WORK_TIMING % (elapsed * 1000)
        if _FAST_HEADERS:
            store = response.headers._store
            store["x-response-time"] = ("X-Response-Time", response_time)
            store["server-timing"] = ("Server-Timing", server_timing)
        else:
            response["X-Response-Time"] = response_time
            response["Server-Timing"] = server_timing
        if elapsed >= self.slow:
            self._log_slow(
                method=method,
                route=route,
                status=status,
                elapsed=elapsed,
                queries=queries,
                db_seconds=db_seconds,
                timing=timing,
            )
        return response

    def _record_multiprocess(
        self,
        duration: FastHistogram,
        size: FastHistogram,
        elapsed: float,
        body: int | None,
        queries: int,
    ) -> None:
        """Record a request through the multiprocess cells' own methods (each locks its file)."""
        self.in_flight(-1)
        duration.observe(elapsed)
        if body is not None:
            size.observe(body)
        self.queries_histogram.observe(queries)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Count the view's exception by class; Django still turns it into a response."""
        count_exception(exception)

    @staticmethod
    def _log_slow(
        *,
        method: str,
        route: str,
        status: int,
        elapsed: float,
        queries: int,
        db_seconds: float,
        timing: RequestTiming,
    ) -> None:
        logger.warning(
            "slow request: %s %s answered %s in %.3fs (%d queries, %.3fs in the database)",
            method,
            route,
            status,
            elapsed,
            queries,
            db_seconds,
            extra={
                "event.action": "slow_request",
                "http.request.method": method,
                "http.route": route,
                "http.response.status_code": status,
                "event.duration": int(elapsed * 1e9),
                "helpdesk.db.duration_ms": round(db_seconds * 1000, 3),
                "helpdesk.db.queries": queries,
                "helpdesk.cache.duration_ms": round(timing.cache_seconds * 1000, 3),
            },
        )
