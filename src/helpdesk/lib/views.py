"""Error pages that answer JSON to API clients and plain text elsewhere."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Answer 404 without echoing the path (it may carry a token or hostile text)."""
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return HttpResponse("Not found.", status=404, content_type="text/plain")


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer 500 with no detail: the traceback goes to the error log, not to the client."""
    if _wants_json(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return HttpResponse("Internal server error.", status=500, content_type="text/plain")
