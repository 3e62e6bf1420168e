"""The access log: one line per request, written when the response is ready.

``AccessLogMiddleware`` sits right after ``RequestContextMiddleware`` so the line carries the
request id and covers the time of every later middleware and the view. The line is logged on
the ``helpdesk.access`` logger at INFO with ECS fields: ``http.request.method``, ``url.path``,
``url.query`` (redacted by the formatter), ``http.response.status_code``,
``http.response.body.bytes``, ``event.duration`` (nanoseconds), ``event.outcome``,
``client.ip``, ``user_agent.original`` and ``user.id``. Probes, /metrics scrapes and static
files (MONITORING_UNTRACKED_PATHS) are left out unless ACCESS_LOG_PROBES is on: they arrive
every few seconds and say nothing. While the request runs, the middleware also lets every
other log line name the request (see ``helpdesk.monitoring.logging.context``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from helpdesk.lib.process import pid
from helpdesk.monitoring.logging.context import ACCESS_LOGGER, current_request

logger = logging.getLogger(__name__)
access_logger = logging.getLogger(ACCESS_LOGGER)

_LINE = 0  # log.origin.file.line of access lines: there is one place that writes them
_FORMAT = "%s %s %s"
_FUNCTION = "access_log"
# The same lists on every access record (formatters read them, nothing changes them).
_CATEGORY = ["web"]
_TYPE = ["access"]
# Per (process, thread): the attributes every access record of that thread shares.
_templates: dict[tuple[int, int], tuple[dict[str, Any], float, float]] = {}
_new_record = object.__new__


def _access_record(args: tuple[Any, ...]) -> logging.LogRecord:
    """Return the access line's record, as ``logging.LogRecord(...)`` would make it.

    A custom record factory (OpenTelemetry's, say) is called as usual. With the standard one,
    the record is a copy of a record made once per process and thread with a fresh time and
    arguments: what ``LogRecord.__init__`` works out again for every line (level name, file
    and module name, thread and process names) is the same for every access line.
    """
    factory = logging.getLogRecordFactory()
    if factory is not logging.LogRecord:
        return factory(ACCESS_LOGGER, logging.INFO, __file__, _LINE, _FORMAT, args, None, _FUNCTION)
    now = time.time()
    key = (pid(), threading.get_ident())
    template = _templates.get(key)
    if template is None:
        first = logging.LogRecord(
            ACCESS_LOGGER, logging.INFO, __file__, _LINE, _FORMAT, (), None, _FUNCTION
        )
        if len(_templates) >= 1024:  # threads come and go (gthread workers): forget old ones
            _templates.clear()
        template = _templates[key] = (first.__dict__, first.created, first.relativeCreated)
    attrs, created, relative = template
    record: logging.LogRecord = _new_record(logging.LogRecord)
    fields = record.__dict__
    fields.update(attrs)
    fields["args"] = args
    fields["created"] = now
    fields["msecs"] = int((now - int(now)) * 1000) + 0.0
    fields["relativeCreated"] = relative + (now - created) * 1000
    return record


def is_probe(path: str) -> bool:
    """Return True for health probes, metrics scrapes and static files."""
    return path.startswith(tuple(settings.MONITORING_UNTRACKED_PATHS))


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
        # A record made here and the fields written straight into it instead of .info(extra=…):
        # the caller is always this line, so skip the stack walk that finds it, and the field
        # names are known not to clash with the record's own attributes.
        record = _access_record((request.method, path, status))
        fields = record.__dict__
        fields["event.kind"] = "event"
        fields["event.category"] = _CATEGORY
        fields["event.type"] = _TYPE
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
