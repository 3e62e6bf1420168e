"""Request-level guards that must run before any view reads the body."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from helpdesk.lib import outages

logger = logging.getLogger(__name__)


class RequestBodyLimitMiddleware:
    """Refuse a request whose body exceeds MAX_REQUEST_BODY_BYTES with 413.

    The body's length is its Content-Length; for a chunked body, the bytes ChunkedBodyReader
    actually read (at most the limit plus one).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.limit: int = settings.MAX_REQUEST_BODY_BYTES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return JsonResponse({"detail": "Content-Length must be an integer."}, status=400)
        if length > self.limit:
            return JsonResponse(
                {"detail": f"Request body too large: the limit is {self.limit} bytes."},
                status=413,
            )
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """Answer 503 with Retry-After and a JSON body when a view cannot reach the database.

    OperationalError and InterfaceError mean the server refused, timed out, went away, or
    cancelled the statement (statement_timeout): the client may retry, and the outage is
    logged once per interval (``helpdesk.lib.outages``), not as a traceback per request.
    Retry-After is DB_UNAVAILABLE_SECONDS, the time a process waits before it tries a server
    that timed out again.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        outages.report("database", exception, source="request")
        retry: int = settings.DB_UNAVAILABLE_SECONDS
        response = JsonResponse(
            {
                "detail": f"The database is unavailable. Try again in {retry} seconds.",
                "retry_after": retry,
            },
            status=503,
        )
        response["Retry-After"] = str(retry)
        return response


WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ChunkedBodyReader:
    """Let Django see a chunked request body, reading no more than the limit plus one byte.

    Django reads a body up to its Content-Length, and a chunked request has none: its body
    would be silently empty ("subject: required" for a 5 MB upload). This WSGI wrapper reads
    up to MAX_REQUEST_BODY_BYTES + 1 bytes of it into memory and declares what it read as the
    Content-Length, so RequestBodyLimitMiddleware answers 413 for a body over the limit (going
    through the access log and metrics like any answer) and views read the body otherwise.
    """

    def __init__(self, application: WSGIApplication, limit: int) -> None:
        self.application = application
        self.limit = limit

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            body = environ["wsgi.input"].read(self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)
