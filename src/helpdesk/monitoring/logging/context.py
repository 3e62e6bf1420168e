"""Put the request and job context on every log record.

``ContextFilter`` (attached to every handler) adds, unless the caller already set them:

- from ``helpdesk.lib.request_context.current()``: ``http.request.id``; bound fields whose
  names are ECS names (contain a dot) as they are; other bound fields (``ticket_id``, ``job``,
  ``run_id``, ``organization``…) under ``labels``;
- from the request being served (set by ``AccessLogMiddleware``): ``http.request.method``,
  ``url.path``, ``client.ip`` (the one client-IP resolver), ``user_agent.original`` and, once
  authentication has run, ``user.id``;
- ``event.dataset``: ``helpdesk.access`` for access lines, ``helpdesk.server`` for gunicorn,
  ``helpdesk.app`` otherwise.

The request is only remembered for the duration of the request (a context variable private to
logging); the request id and bound fields stay in the one request context.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest

from helpdesk.lib import request_context
from helpdesk.lib.client_ip import client_ip

logger = logging.getLogger(__name__)

ACCESS_LOGGER = "helpdesk.access"

# The request being served, so log lines written during it can name method, path, client and
# user without each caller passing them. Set and reset by AccessLogMiddleware.
current_request: ContextVar[HttpRequest | None] = ContextVar("helpdesk_log_request", default=None)

_DONE = "_helpdesk_context"


def _dataset(name: str) -> str:
    if name == ACCESS_LOGGER:
        return "helpdesk.access"
    if name.startswith("gunicorn"):
        return "helpdesk.server"
    return "helpdesk.app"


def _user_id(request: HttpRequest) -> str | None:
    """Return the authenticated user's id without triggering authentication or a query."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    # A session user is a lazy object until something reads it: do not evaluate it here
    # (that would run a query inside a log call).
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is None or wrapped.__class__.__name__ == "object":
        return None
    if not getattr(wrapped, "is_authenticated", False):
        return None
    pk = getattr(wrapped, "pk", None)
    return None if pk is None else str(pk)


def request_fields(request: HttpRequest) -> dict[str, Any]:
    """Return the ECS fields that describe ``request`` (method, path, client, agent, user)."""
    fields: dict[str, Any] = {}
    add_request_fields(fields, request)
    return fields


def add_request_fields(attrs: dict[str, Any], request: HttpRequest) -> None:
    """Add the fields of ``request_fields`` to ``attrs``, keeping those already there."""
    if "http.request.method" not in attrs:
        attrs["http.request.method"] = request.method
    if "url.path" not in attrs:
        attrs["url.path"] = request.path
    if "client.ip" not in attrs:
        attrs["client.ip"] = client_ip(request)
    if "user_agent.original" not in attrs:
        agent = request.META.get("HTTP_USER_AGENT")
        if agent:
            attrs["user_agent.original"] = agent
    if "user.id" not in attrs:
        user_id = _user_id(request)
        if user_id is not None:
            attrs["user.id"] = user_id


class ContextFilter(logging.Filter):
    """Add the request/job context and ``event.dataset`` to records (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record`` once (several handlers share it) and let it through."""
        attrs = record.__dict__
        if _DONE in attrs:
            return True
        attrs[_DONE] = True
        if "event.dataset" not in attrs:
            attrs["event.dataset"] = _dataset(record.name)
        if "status_code" in attrs and isinstance(attrs["status_code"], int):
            # django.request / django.server
            attrs.setdefault("http.response.status_code", attrs["status_code"])
        ctx = request_context.current()
        if ctx:
            labels: dict[str, Any] = {}
            for key, value in ctx.items():
                if key == "request_id":
                    if "http.request.id" not in attrs:
                        attrs["http.request.id"] = value
                elif "." in key:
                    attrs.setdefault(key, value)
                else:
                    labels[key] = (
                        value if isinstance(value, str | int | float | bool) else str(value)
                    )
            if labels:
                given = attrs.get("labels")
                attrs["labels"] = {**labels, **given} if isinstance(given, dict) else labels
        request = current_request.get()
        if request is not None:
            add_request_fields(attrs, request)
        return True
