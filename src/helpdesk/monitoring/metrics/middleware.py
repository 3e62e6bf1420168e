"""Request metrics and performance headers (the spec's PerformanceMiddleware, done right).

``MetricsMiddleware`` sits right after ``helpdesk.lib.request_context.RequestContextMiddleware``
(which owns the request id) and, for every request except METRICS_EXCLUDE_PATHS:

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
from collections.abc import Callable
from time import perf_counter

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from helpdesk.monitoring.metrics.instruments import (
    ACTIVE_REQUESTS,
    KNOWN_METHODS,
    OTHER_METHOD,
    UNMATCHED_ROUTE,
    count_exception,
    db_children,
    request_children,
)
from helpdesk.monitoring.metrics.timing import CacheTimer, DbTimer, current_cache_timer

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


class MetricsMiddleware:
    """Measure each request (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.exclude = tuple(getattr(settings, "METRICS_EXCLUDE_PATHS", ("/metrics",)))
        self.slow = float(getattr(settings, "SLOW_REQUEST_SECONDS", 1.0))
        self.databases = tuple((alias, *db_children(alias)) for alias in settings.DATABASES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(self.exclude):
            return self.get_response(request)
        start = perf_counter()
        ACTIVE_REQUESTS.inc()
        timers = [DbTimer(alias, duration) for alias, duration, _ in self.databases]
        wrapped = [connections[timer.alias].execute_wrappers for timer in timers]
        for wrappers, timer in zip(wrapped, timers, strict=True):
            wrappers.append(timer)
        cache_timer = CacheTimer()
        token = current_cache_timer.set(cache_timer)
        try:
            response = self.get_response(request)
        finally:
            current_cache_timer.reset(token)
            for wrappers, timer in zip(wrapped, timers, strict=True):
                wrappers.remove(timer)
            ACTIVE_REQUESTS.dec()
        elapsed = perf_counter() - start
        self._record(request, response, elapsed, timers, cache_timer.seconds)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Count the view's exception by class; Django still turns it into a response."""
        count_exception(exception)

    def _record(
        self,
        request: HttpRequest,
        response: HttpResponse,
        elapsed: float,
        timers: list[DbTimer],
        cache_seconds: float,
    ) -> None:
        method = request.method or ""
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        match = request.resolver_match
        route = route_template(match.route) if match is not None else UNMATCHED_ROUTE
        status = response.status_code
        duration, size = request_children(method, route, status)
        duration.observe(elapsed)
        if isinstance(response, StreamingHttpResponse):
            length = response.get("Content-Length")
            if length is not None and length.isdigit():
                size.observe(int(length))
        else:
            size.observe(len(response.content))
        queries = 0
        db_seconds = 0.0
        for timer, (_, _, per_request) in zip(timers, self.databases, strict=True):
            per_request.observe(timer.queries)
            queries += timer.queries
            db_seconds += timer.seconds
        response["X-Response-Time"] = f"{elapsed:.3f}s"
        response["Server-Timing"] = (
            f"app;dur={elapsed * 1000:.1f}, "
            f'db;dur={db_seconds * 1000:.1f};desc="{queries} queries", '
            f"cache;dur={cache_seconds * 1000:.1f}"
        )
        if elapsed >= self.slow:
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
                    "helpdesk.cache.duration_ms": round(cache_seconds * 1000, 3),
                },
            )
