"""Put the request and job context on every log record, as attributes the formatter writes.

``ContextFilter`` (on every handler) sets what the record lacks of: ``http.request.id`` and the
bound fields of the one request context (dotted ECS names as they are, others under
``labels``); the request being served (``http.request.method``, ``url.path``, ``client.ip``,
``user_agent.original``, ``user.id``); ``event.dataset``.
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

# The request being served, so any line logged during it can describe it.
current_request: ContextVar[HttpRequest | None] = ContextVar("helpdesk_log_request", default=None)


def _dataset(name: str) -> str:
    if name == ACCESS_LOGGER:
        return "helpdesk.access"
    return "helpdesk.server" if name.startswith("gunicorn") else "helpdesk.app"


def user_id(request: HttpRequest) -> str | None:
    """Return the authenticated user's id, without running authentication or a query.

    Django's session user stays a lazy object until something reads it, and reading it here
    would query. So the id comes from a user authentication put on the request (DRF's, or
    ``login()``), or from the session's login data once the session is loaded.
    """
    user = getattr(request, "user", None)
    if user is not None and not isinstance(user, SimpleLazyObject):
        return str(user.pk) if user.is_authenticated and user.pk is not None else None
    session = getattr(request, "session", None)
    if user is None or session is None or not session.accessed:
        return None
    pk = session.get(SESSION_KEY)
    return None if pk is None else str(pk)


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
        request = current_request.get()
        if request is not None:
            attrs.setdefault("http.request.method", request.method)
            attrs.setdefault("url.path", request.path)
            attrs.setdefault("user_agent.original", request.META.get("HTTP_USER_AGENT") or None)
            if "client.ip" not in attrs:
                attrs["client.ip"] = client_ip(request)
            if "user.id" not in attrs:
                attrs["user.id"] = user_id(request)
        return True
