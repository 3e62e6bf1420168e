"""Request metrics and performance headers (the spec's PerformanceMiddleware, done right).

``MetricsMiddleware`` sits right after ``helpdesk.lib.request_context.RequestContextMiddleware``
(which owns the request id) and, for every request except MONITORING_UNTRACKED_PATHS:

- records ``http_server_request_duration_seconds`` {method, route template, status},
  ``http_server_response_body_size_bytes``, ``http_server_active_requests``,
  ``db_client_queries_per_request`` and (via ``timing.QueryTimer``) per-query database metrics;
- sets ``X-Response-Time: 0.012s`` and, for a signed-in caller, W3C ``Server-Timing``
  (``app;dur=…, db;dur=…;desc="N queries", cache;dur=…``, milliseconds). Anonymous callers
  (the public status page, sign-in, the error-ingestion endpoints) do not get the breakdown:
  a query count that differs with, say, whether a username exists would tell them so;
- logs requests slower than SLOW_REQUEST_SECONDS at WARNING with route, method, status,
  duration, database time and query count (the request id comes with the log context).

The route label is the resolver's template (``api/v1/tickets/<pk>/``), never the raw path;
unresolved paths are ``unmatched``, every admin page ``admin/*`` and unknown methods ``_OTHER``,
so label values stay bounded.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from functools import lru_cache
from time import perf_counter
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, resolve

from helpdesk.lib import request_context
from helpdesk.lib.synthetic import is_synthetic
from helpdesk.monitoring.metrics import exemplars
from helpdesk.monitoring.metrics.instruments import (
    ACTIVE_REQUESTS,
    ADMIN_ROUTE,
    DB_QUERIES_PER_REQUEST,
    KNOWN_METHODS,
    OTHER_METHOD,
    REQUEST_DURATION,
    RESPONSE_SIZE,
    UNMATCHED_ROUTE,
    count_exception,
)
from helpdesk.monitoring.metrics.multiprocess import ENV
from helpdesk.monitoring.metrics.timing import RequestTiming, current_timing

logger = logging.getLogger(__name__)

# DRF routers write regex patterns; the label shows them as path templates.
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@lru_cache(maxsize=1024)
def route_template(route: str) -> str:
    """Return the label for a resolver route: regex groups become ``<name>``, anchors go."""
    template = _NAMED_GROUP.sub(r"<\1>", route)
    return template.replace("^", "").replace("$", "").replace("\\.", ".")


def route_label(match: ResolverMatch | None) -> str:
    """Return the route label of a resolved request (see the module docstring)."""
    if match is None:
        return UNMATCHED_ROUTE
    if match.app_name == "admin":
        return ADMIN_ROUTE
    return route_template(match.route)


@lru_cache(maxsize=1024)
def _resolved(path: str) -> ResolverMatch | None:
    if path.startswith(tuple(settings.MONITORING_UNTRACKED_PATHS)):
        return None
    try:
        return resolve(path)
    except Resolver404:
        return None


def page_route(url: str | None, *, label: bool = True) -> str | None:
    """Return the route of a URL's path: its label as the request metrics give it
    (``monitoring/requests/``, ``admin/*``), or with ``label=False`` its full template
    (``admin/login/``); None for a path that resolves to nothing or is untracked (health,
    metrics, static files). For the browser's reports of this app's own pages."""
    match = _resolved(urlsplit(url).path or "/") if url else None
    if match is None:
        return None
    return route_label(match) if label else route_template(match.route)


def _body_size(response: HttpResponse) -> int | None:
    """Return the response body's size; a streaming response's only when it declares one."""
    if not response.streaming:
        return len(response.content)
    length = response.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


class MetricsMiddleware:
    """Measure each request (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.exclude = tuple(settings.MONITORING_UNTRACKED_PATHS)
        self.slow = settings.SLOW_REQUEST_SECONDS
        self.multiprocess_path = os.environ.get(ENV, "")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Health probes, scrapes and the synthetic probes' requests are not user traffic.
        if request.path_info.startswith(self.exclude) or is_synthetic(request):
            return self.get_response(request)
        start = perf_counter()
        timing = RequestTiming()
        token = current_timing.set(timing)
        ACTIVE_REQUESTS.inc()
        try:
            response = self.get_response(request)
        finally:
            ACTIVE_REQUESTS.dec()
            current_timing.reset(token)
        elapsed = perf_counter() - start

        method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
        route = route_label(request.resolver_match)
        status = response.status_code
        # A sampled request's trace id rides along as the bucket's exemplar (OpenMetrics):
        # prometheus_client keeps it in single-process mode, the exemplars module otherwise.
        trace_id = request_context.current().get("trace.id")
        exemplar = {"trace_id": trace_id} if trace_id else None
        REQUEST_DURATION.labels(method, route, str(status)).observe(elapsed, exemplar)
        if trace_id and self.multiprocess_path:
            labels = (method, route, str(status))
            exemplars.record(labels, elapsed, trace_id, self.multiprocess_path)
        size = _body_size(response)
        if size is not None:
            RESPONSE_SIZE.labels(method).observe(size)
        for alias in {"default", *timing.queries}:
            DB_QUERIES_PER_REQUEST.labels(alias).observe(timing.queries[alias])

        queries = timing.queries.total()
        response["X-Response-Time"] = f"{elapsed:.3f}s"
        if request_context.user_id(request) is not None:
            response["Server-Timing"] = (
                f"app;dur={elapsed * 1000:.1f}, "
                f'db;dur={timing.db_seconds * 1000:.1f};desc="{queries} queries", '
                f"cache;dur={timing.cache_seconds * 1000:.1f}"
            )
        if elapsed >= self.slow:
            self._log_slow(
                method=method,
                route=route,
                status=status,
                elapsed=elapsed,
                queries=queries,
                timing=timing,
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Count the view's exception by class; Django still turns it into a response."""
        count_exception(exception)

    @staticmethod
    def _log_slow(
        *, method: str, route: str, status: int, elapsed: float, queries: int, timing: RequestTiming
    ) -> None:
        logger.warning(
            "slow request: %s %s answered %s in %.3fs (%d queries, %.3fs in the database)",
            method,
            route,
            status,
            elapsed,
            queries,
            timing.db_seconds,
            extra={
                "event.action": "slow_request",
                "http.request.method": method,
                "http.route": route,
                "http.response.status_code": status,
                "event.duration": int(elapsed * 1e9),
                "helpdesk.db.duration_ms": round(timing.db_seconds * 1000, 3),
                "helpdesk.db.queries": queries,
                "helpdesk.cache.duration_ms": round(timing.cache_seconds * 1000, 3),
            },
        )
