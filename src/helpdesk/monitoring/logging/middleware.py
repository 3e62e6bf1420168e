"""The access log: one line per request, written when the response is ready.

``AccessLogMiddleware`` sits right after ``RequestContextMiddleware`` so the line carries the
request id and covers the time of every later middleware and the view. The line is logged on
the ``helpdesk.access`` logger at INFO with ECS fields: ``http.request.method``, ``url.path``,
``url.query`` (redacted by the formatter), ``http.response.status_code``,
``http.response.body.bytes``, ``event.duration`` (nanoseconds), ``event.outcome``,
``client.ip``, ``user_agent.original`` and ``user.id``. Liveness/readiness probes and /metrics
scrapes are left out unless ACCESS_LOG_PROBES is on: they arrive every few seconds and say
nothing. While the request runs, the middleware also lets every other log line name the
request (see ``helpdesk.monitoring.logging.context``).
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

PROBE_PREFIXES = ("/health/", "/metrics")
_LINE = 0  # log.origin.file.line of access lines: there is one place that writes them


def is_probe(path: str) -> bool:
    """Return True for health-probe and metrics-scrape paths."""
    return path.startswith(PROBE_PREFIXES)


class AccessLogMiddleware:
    """Write one ECS access line per request (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.enabled: bool = getattr(settings, "ACCESS_LOG", True)
        self.probes: bool = getattr(settings, "ACCESS_LOG_PROBES", False)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter_ns()
        token = current_request.set(request)
        try:
            response = self.get_response(request)
        except BaseException:
            # Django turns view errors into responses; anything that still escapes becomes a
            # 500 upstream, so the access line says so before the error propagates.
            self._log(request, None, time.perf_counter_ns() - start)
            raise
        else:
            self._log(request, response, time.perf_counter_ns() - start)
        finally:
            current_request.reset(token)
        return response

    def _log(self, request: HttpRequest, response: HttpResponse | None, duration: int) -> None:
        if not self.enabled or not access_logger.isEnabledFor(logging.INFO):
            return
        path = request.path
        if not self.probes and is_probe(path):
            return
        status = 500 if response is None else response.status_code
        # The record factory and the fields written straight into the record instead of
        # .info(extra=…): the caller is always this line, so skip the stack walk that finds it,
        # and the field names are known not to clash with the record's own attributes.
        record = logging.getLogRecordFactory()(
            ACCESS_LOGGER,
            logging.INFO,
            __file__,
            _LINE,
            "%s %s %s",
            (request.method, path, status),
            None,
            "access_log",
        )
        fields = record.__dict__
        fields["event.kind"] = "event"
        fields["event.category"] = ["web"]
        fields["event.type"] = ["access"]
        fields["event.outcome"] = "success" if status < 400 else "failure"
        fields["event.duration"] = duration
        fields["http.response.status_code"] = status
        meta = request.META
        query = meta.get("QUERY_STRING")
        if query:
            fields["url.query"] = query
        protocol = meta.get("SERVER_PROTOCOL", "")
        if protocol.startswith("HTTP/"):
            fields["http.version"] = protocol[5:]
        if response is not None and not response.streaming:
            fields["http.response.body.bytes"] = len(response.content)
        access_logger.handle(record)
