"""Put the request and job context on every log record.

``ContextFilter`` (attached to every handler) adds, unless the caller already set them:

- from ``helpdesk.lib.request_context.current()``: ``http.request.id``; bound fields whose
  names are ECS names (contain a dot) as they are; other bound fields (``ticket_id``, ``job``,
  ``run_id``, ``organization``…) under ``labels``;
- from the request being served (set by ``AccessLogMiddleware``): ``http.request.method``,
  ``url.path``, ``client.ip`` (the one client-IP resolver), ``user_agent.original`` and, once
  authentication has run, ``user.id`` (never running authentication or a query itself);
- ``event.dataset``: ``helpdesk.access`` for access lines, ``helpdesk.server`` for gunicorn,
  ``helpdesk.app`` otherwise.

The request is only remembered for the duration of the request (a context variable private to
logging); the request id and bound fields stay in the one request context.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from helpdesk.lib import request_context
from helpdesk.lib.client_ip import client_ip

logger = logging.getLogger(__name__)

ACCESS_LOGGER = "helpdesk.access"

# The request being served, so log lines written during it can name method, path, client and
# user without each caller passing them. Set and reset by AccessLogMiddleware.
current_request: ContextVar[HttpRequest | None] = ContextVar("helpdesk_log_request", default=None)


def _dataset(name: str) -> str:
    if name == ACCESS_LOGGER:
        return "helpdesk.access"
    if name.startswith("gunicorn"):
        return "helpdesk.server"
    return "helpdesk.app"


def user_id(request: HttpRequest) -> str | None:
    """Return the authenticated user's id, without running authentication or a query.

    Django's session user is a lazy object until something reads it, and reading it in a log
    call would run queries there. So the id comes from a user authentication already put on
    the request (DRF sets the user it authenticated on Django's request for the middleware;
    ``login()`` sets its user), or from the session's login data once the session is loaded.
    """
    user = getattr(request, "user", None)
    if user is None:
        return None
    if not isinstance(user, SimpleLazyObject):
        return str(user.pk) if user.is_authenticated and user.pk is not None else None
    session = getattr(request, "session", None)
    if session is None or not session.accessed:
        return None
    user_id = session.get(SESSION_KEY)
    return None if user_id is None else str(user_id)


def _add_request_fields(attrs: dict[str, Any], request: HttpRequest) -> None:
    """Add the fields that describe ``request`` to ``attrs``, keeping those already there."""
    attrs.setdefault("http.request.method", request.method)
    attrs.setdefault("url.path", request.path)
    if "client.ip" not in attrs:
        attrs["client.ip"] = client_ip(request)
    if "user_agent.original" not in attrs:
        attrs["user_agent.original"] = request.META.get("HTTP_USER_AGENT") or None
    if "user.id" not in attrs:
        attrs["user.id"] = user_id(request)


class ContextFilter(logging.Filter):
    """Add the request/job context and ``event.dataset`` to records (never drops one).

    Several handlers share a record, each with this filter: the fields a first pass added are
    kept, so later passes change nothing.
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
        request = current_request.get()
        if request is not None:
            _add_request_fields(attrs, request)
        return True
