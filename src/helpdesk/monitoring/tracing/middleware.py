"""Share the request span with the rest of the request (installed only with tracing on).

``TraceContextMiddleware`` runs right after ``RequestContextMiddleware``, inside the Django
instrumentation's request span. For a request without a recording span (an excluded URL, or
not sampled) it suppresses the instrumentations: no orphan SQL or cache spans from health
probes and scrapes, and no wrapper work where nothing is recorded. For a sampled request it
binds the span's ids to the request context (``spans.bind_ids``), answers
``Server-Timing: traceparent;desc="00-…-01"`` so the browser can tie its timings to the trace,
and, once the view has run, names the span by the route template as the metrics label it
(``GET api/v1/tickets/<pk>/``, not a DRF regex) and puts the user id and the organization on
it (never a token, a body or a query string).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from helpdesk.lib import request_context
from helpdesk.monitoring.metrics.instruments import KNOWN_METHODS
from helpdesk.monitoring.metrics.middleware import route_template
from helpdesk.monitoring.tracing.spans import bind_ids, traceparent

logger = logging.getLogger(__name__)


class TraceContextMiddleware:
    """Bind the request span's ids, describe the user on it, and announce it to the browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        span = trace.get_current_span()
        if not span.is_recording():
            # An excluded URL (health probe, scrape) has no span: its queries would become
            # traces of their own. An unsampled request's would not be recorded anyway. Either
            # way the instrumentations may skip their work for the whole request.
            with suppress_instrumentation():
                return self.get_response(request)
        bind_ids(span)
        # The instrumentation records the target with its query string, which may hold a
        # token (?token=…): the path is enough to find the request.
        span.set_attribute("http.target", request.path)
        response = self.get_response(request)
        match = request.resolver_match
        if match is not None and match.route:
            route = route_template(match.route)
            span.set_attribute("http.route", route)
            method = request.method if request.method in KNOWN_METHODS else "HTTP"
            span.update_name(f"{method} {route}")
        uid = request_context.user_id(request)
        if uid is not None:
            span.set_attribute("enduser.id", uid)
        organization = request_context.current().get("organization")
        if organization:
            span.set_attribute("helpdesk.organization", str(organization))
        header = traceparent(span)
        if header:
            timing = f'traceparent;desc="{header}"'
            existing = response.get("Server-Timing")
            response["Server-Timing"] = f"{existing}, {timing}" if existing else timing
        return response
