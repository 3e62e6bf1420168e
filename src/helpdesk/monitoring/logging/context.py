"""What a request puts in the log: its context on every record, and one access line.

``ContextFilter`` (on every handler) sets what the record lacks of: ``http.request.id`` and the
bound fields of the one request context (dotted ECS names as they are, others under
``labels``); the request being served (``http.request.method``, ``url.path``, ``client.ip``,
``user_agent.original``, ``user.id``); ``event.dataset``.

``AccessLogMiddleware`` sits right after ``RequestContextMiddleware`` (so the line carries the
request id and times every later middleware and the view) and logs on ``helpdesk.access`` at
INFO, with ``extra`` ECS fields. Probes, scrapes and static files (MONITORING_UNTRACKED_PATHS)
are left out unless ACCESS_LOG_PROBES is on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from helpdesk.lib import request_context
from helpdesk.lib.client_ip import client_ip

logger = logging.getLogger(__name__)

ACCESS_LOGGER = "helpdesk.access"
access_logger = logging.getLogger(ACCESS_LOGGER)


def _dataset(name: str) -> str:
    if name == ACCESS_LOGGER:
        return "helpdesk.access"
    return "helpdesk.server" if name.startswith("gunicorn") else "helpdesk.app"


class ContextFilter(logging.Filter):
    """Add the request/job context and ``event.dataset`` to records (never drops one).

    Several handlers share a record, each with this filter: what a first pass set is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record`` and let it through."""
        attrs = vars(record)
        attrs.setdefault("event.dataset", _dataset(record.name))
        if isinstance(attrs.get("status_code"), int):  # django.request / django.server
            attrs.setdefault("http.response.status_code", attrs["status_code"])
        labels: dict[str, Any] = {}
        for key, value in request_context.current().items():
            if key == "request_id":
                attrs.setdefault("http.request.id", value)
            elif "." in key:
                attrs.setdefault(key, value)
            else:
                labels[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if labels:
            given = attrs.get("labels")
            attrs["labels"] = {**labels, **given} if isinstance(given, dict) else labels
        request = request_context.current_request()
        if request is not None:
            attrs.setdefault("http.request.method", request.method)
            attrs.setdefault("url.path", request.path)
            attrs.setdefault("user_agent.original", request.META.get("HTTP_USER_AGENT") or None)
            if "client.ip" not in attrs:
                attrs["client.ip"] = client_ip(request)
            if "user.id" not in attrs:
                attrs["user.id"] = request_context.user_id(request)
        return True


class AccessLogMiddleware:
    """Write one ECS access line per request (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter_ns()
        try:
            response = self.get_response(request)
        except BaseException:
            # Django turns view errors into responses; what still escapes becomes a 500
            # upstream, so the line says so before the error propagates.
            self.access_log(request, None, time.perf_counter_ns() - start)
            raise
        self.access_log(request, response, time.perf_counter_ns() - start)
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
