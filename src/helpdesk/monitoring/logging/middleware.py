"""The access log: one line per request, written when the response is ready.

``AccessLogMiddleware`` sits right after ``RequestContextMiddleware`` (so the line carries the
request id and times every later middleware and the view) and logs on ``helpdesk.access`` at
INFO, with ``extra`` ECS fields; the context filter adds the request's. Probes, scrapes and
static files (MONITORING_UNTRACKED_PATHS) are left out unless ACCESS_LOG_PROBES is on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from helpdesk.monitoring.logging.context import ACCESS_LOGGER, current_request

logger = logging.getLogger(__name__)
access_logger = logging.getLogger(ACCESS_LOGGER)


class AccessLogMiddleware:
    """Write one ECS access line per request (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter_ns()
        token = current_request.set(request)
        try:
            response = self.get_response(request)
        except BaseException:
            # Django turns view errors into responses; what still escapes becomes a 500
            # upstream, so the line says so before the error propagates.
            self.access_log(request, None, time.perf_counter_ns() - start)
            raise
        else:
            self.access_log(request, response, time.perf_counter_ns() - start)
        finally:
            current_request.reset(token)
        return response

    def access_log(
        self, request: HttpRequest, response: HttpResponse | None, duration: int
    ) -> None:
        """Log the access line of ``request`` (``response`` None: it raised)."""
        untracked = request.path.startswith(tuple(settings.MONITORING_UNTRACKED_PATHS))
        if not settings.ACCESS_LOG or (untracked and not settings.ACCESS_LOG_PROBES):
            return
        status = 500 if response is None else response.status_code
        fields = {
            "event.kind": "event",
            "event.category": ["web"],
            "event.type": ["access"],
            "event.outcome": "success" if status < 400 else "failure",
            "event.duration": duration,
            "http.response.status_code": status,
            "url.query": request.META.get("QUERY_STRING") or None,
        }
        protocol = request.META.get("SERVER_PROTOCOL", "")
        if protocol.startswith("HTTP/"):
            fields["http.version"] = protocol.removeprefix("HTTP/")
        if response is not None and not response.streaming:
            fields["http.response.body.bytes"] = len(response.content)
        access_logger.info("%s %s %s", request.method, request.path, status, extra=fields)
