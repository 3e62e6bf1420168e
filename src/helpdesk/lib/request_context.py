"""The request context: request id and fields any code may bind for the current request.

``RequestContextMiddleware`` runs first. It accepts a client's ``X-Request-ID`` only when it
matches a safe pattern (letters, digits, ``-_.:``, at most 128 characters), otherwise makes a
new one, echoes it on the response, and keeps it with other fields in a context variable that
logging, metrics and tracing read, with the request itself (``current_request()``).
``bind()`` adds fields (a ticket id, a job name) that live until the request or job ends;
``job_context()`` gives background work its own context.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

_context: ContextVar[dict[str, Any] | None] = ContextVar("helpdesk_context", default=None)
_request: ContextVar[HttpRequest | None] = ContextVar("helpdesk_request", default=None)


def new_id() -> str:
    """Return a fresh random id (32 hex characters)."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """Return ``value`` if it is a safe request id, else a freshly generated one."""
    if value and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return new_id()


def current() -> dict[str, Any]:
    """Return the fields bound to the current request or job (empty outside any)."""
    return _context.get() or {}


def request_id() -> str | None:
    """Return the current request id, or None outside a request."""
    value = current().get("request_id")
    return value if isinstance(value, str) else None


def current_request() -> HttpRequest | None:
    """Return the request being served (None outside a request), for code not handed it."""
    return _request.get()


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


def bind(**fields: Any) -> None:
    """Add fields to the current context; they are dropped when the request or job ends."""
    ctx = _context.get()
    if ctx is None:
        ctx = {}
        _context.set(ctx)
    ctx.update(fields)


@contextmanager
def job_context(job: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Run a block of background work with its own context (job name and a run id)."""
    token = _context.set({"job": job, "run_id": new_id(), **fields})
    try:
        yield _context.get() or {}
    finally:
        _context.reset(token)


class RequestContextMiddleware:
    """Give each request an id and a fresh context; put the id on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = accept_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = rid  # type: ignore[attr-defined]
        token = _context.set({"request_id": rid})
        request_token = _request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(request_token)
            _context.reset(token)
        response[REQUEST_ID_HEADER] = rid
        return response
