"""Capture the app's own errors as events of the platform project, without any SDK.

- Unhandled exceptions in views (Django's ``got_request_exception``): an event with the
  request id, route template, method, path, user id, release and environment.
- ERROR (and CRITICAL) log records with ``exc_info`` from the app's own loggers
  (``helpdesk.*``): the same, with the logger name and the formatted message.

Events go through the same ``ingest`` as SDK events (grouping, scrubbing, sampling), with
``source="server"``. Capturing never raises and never recurses: a failure to store is logged
at WARNING without exc_info, and records logged while capturing are not captured again.
Inside a database transaction the event waits until the request finishes, so the error's
own rollback does not take it along (or break on an aborted transaction).
"""

from __future__ import annotations

import linecache
import logging
import socket
import sys
import threading
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.signals import got_request_exception, request_finished
from django.db import DatabaseError, connection
from django.http import HttpRequest

from helpdesk.lib import request_context

logger = logging.getLogger(__name__)

PLATFORM_SLUG = "platform"
APP_MODULE_PREFIX = "helpdesk"
MAX_CHAIN = 5
_capturing: ContextVar[bool] = ContextVar("errors_capturing", default=False)
# Events captured inside a transaction wait for the end of their request, per thread: a
# gthread worker serves several requests at once, and one request's events must not wait for
# (or be stored by) another's.
_local = threading.local()


def _pending() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] | None = getattr(_local, "events", None)
    if events is None:
        events = _local.events = []
    return events


def _frames(tb: TracebackType | None) -> list[dict[str, Any]]:
    frames = []
    for frame, lineno in traceback.walk_tb(tb):
        module = str(frame.f_globals.get("__name__", ""))
        filename = frame.f_code.co_filename
        frames.append(
            {
                "module": module,
                "filename": filename.rsplit("/", 1)[-1],
                "abs_path": filename,
                "function": frame.f_code.co_qualname,
                "lineno": lineno,
                "context_line": linecache.getline(filename, lineno).strip()[:500],
                "in_app": module == APP_MODULE_PREFIX or module.startswith(APP_MODULE_PREFIX + "."),
            }
        )
    return frames[-100:]


def exception_values(error: BaseException) -> list[dict[str, Any]]:
    """Return Sentry ``exception.values`` for an exception and its causes (oldest first)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < MAX_CHAIN and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    values = []
    for item in reversed(chain):
        kind = type(item)
        values.append(
            {
                "type": kind.__qualname__,
                "module": kind.__module__,
                "value": str(item),
                "stacktrace": {"frames": _frames(item.__traceback__)},
                "mechanism": {"type": "helpdesk", "handled": False},
            }
        )
    return values


def _base_event(level: str) -> dict[str, Any]:
    context = request_context.current()
    tags = {k: str(context[k]) for k in ("request_id", "route", "job") if context.get(k)}
    event: dict[str, Any] = {
        "timestamp": datetime.now(tz=UTC).isoformat(),
        "level": level,
        "platform": "python",
        "release": settings.HELPDESK_VERSION,
        "environment": settings.HELPDESK_ENV,
        "server_name": socket.gethostname(),
        "tags": tags,
    }
    if context.get("trace.id"):  # the request's or job's trace (docs/tracing.md)
        event["contexts"] = {
            "trace": {"trace_id": context["trace.id"], "span_id": context.get("span.id")}
        }
    return event


def request_event(request: HttpRequest, error: BaseException) -> dict[str, Any]:
    """Return the event of an exception raised while handling ``request``."""
    event = _base_event("error")
    event["exception"] = {"values": exception_values(error)}
    match = getattr(request, "resolver_match", None)
    route = f"/{match.route}" if match is not None and match.route else ""
    if route:
        event["transaction"] = route
        event["tags"]["route"] = route
    rid = getattr(request, "request_id", None) or request_context.request_id()
    if rid:
        event["tags"]["request_id"] = rid
    event["request"] = {
        "method": request.method,
        "url": request.path,
        "query_string": request.META.get("QUERY_STRING", ""),
        "headers": {
            "User-Agent": request.META.get("HTTP_USER_AGENT", ""),
            "Referer": request.META.get("HTTP_REFERER", ""),
        },
    }
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False) and user.pk is not None:
        event["user"] = {"id": str(user.pk)}
    return event


def record_event(record: logging.LogRecord) -> dict[str, Any]:
    """Return the event of an ERROR log record that carries an exception."""
    level = "fatal" if record.levelno >= logging.CRITICAL else "error"
    event = _base_event(level)
    event["logger"] = record.name
    event["logentry"] = {"formatted": record.getMessage()[:8192]}
    if record.exc_info and record.exc_info[1] is not None:
        event["exception"] = {"values": exception_values(record.exc_info[1])}
    return event


def platform_project() -> Any:
    """Return the platform's own project, creating it on first use."""
    from helpdesk.monitoring.errors.models import Project

    project, _ = Project.objects.get_or_create(
        slug=PLATFORM_SLUG, defaults={"name": "Helpdesk Platform", "organization": None}
    )
    return project


def _store(event: dict[str, Any]) -> None:
    from helpdesk.monitoring.errors import ingest

    try:
        ingest.ingest(event, platform_project(), source="server")
    except (DatabaseError, ValueError) as error:
        logger.warning("server error event not stored: %s", type(error).__name__)


def capture(event: dict[str, Any]) -> None:
    """Store a server event now, or after the request when inside a transaction."""
    if _capturing.get():
        return
    token = _capturing.set(True)
    try:
        if connection.in_atomic_block:
            _pending().append(event)
            return
        _drain()
        _store(event)
    finally:
        _capturing.reset(token)


def flush_pending(**_: Any) -> None:
    """Store the events this thread captured inside transactions (``request_finished``).

    The request's own transactions are over by then (an outer one is a test's, and the events
    roll back with it), so the queue always ends with its request.
    """
    token = _capturing.set(True)
    try:
        _drain()
    finally:
        _capturing.reset(token)


def _drain() -> None:
    pending = _pending()
    while pending:
        _store(pending.pop(0))


def on_request_exception(sender: Any, request: HttpRequest | None = None, **_: Any) -> None:
    """Capture the exception being handled (``got_request_exception`` receiver)."""
    error = sys.exc_info()[1]
    if error is None or request is None or not settings.ERRORS_CAPTURE_SERVER:
        return
    try:
        capture(request_event(request, error))
    except Exception as failure:  # capturing must never change the answer
        logger.warning("server error capture failed: %s", type(failure).__name__)


class ErrorEventHandler(logging.Handler):
    """Turn ERROR records with exc_info from the app's loggers into platform events.

    settings.LOGGING puts it on the root logger, so every application of that config (Django's
    setup, gunicorn's arbiter, a test restoring it) keeps it. Before the apps are ready (the
    arbiter) there is nowhere to store an event, and records pass untouched.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        if not record.exc_info or _capturing.get() or not apps.ready:
            return
        if not settings.ERRORS_CAPTURE_SERVER:
            return
        name = record.name
        if not (name == APP_MODULE_PREFIX or name.startswith(APP_MODULE_PREFIX + ".")):
            return
        if name.startswith(__package__ or "helpdesk.monitoring.errors"):
            return
        try:
            capture(record_event(record))
        except Exception as failure:
            logger.warning("log record capture failed: %s", type(failure).__name__)


def connect() -> None:
    """Connect the request signal receivers (idempotent); the log handler is in LOGGING."""
    got_request_exception.connect(on_request_exception, dispatch_uid="errors-capture")
    request_finished.connect(flush_pending, dispatch_uid="errors-flush")
