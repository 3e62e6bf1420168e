"""Answer health probes before the session, CSRF, host and auth machinery.

Placed right after the access log (so ``ACCESS_LOG_PROBES`` still applies). A probe without a
session cookie is answered here: detailed when it carries ``HEALTH_TOKEN`` or the monitoring
token, the summary otherwise. A probe with a session cookie goes on to the views, which can
then recognise a staff session. Probes skip ``ALLOWED_HOSTS`` on this path on purpose:
orchestrators call them by pod IP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from helpdesk.monitoring.health.views import FULL, LIVE, READY, has_detail_token, health_response

logger = logging.getLogger(__name__)

PATHS = {
    "/health": FULL,
    "/health/": FULL,
    "/health/live": LIVE,
    "/health/live/": LIVE,
    "/health/ready": READY,
    "/health/ready/": READY,
}


class HealthProbeMiddleware:
    """Serve ``/health/…`` early (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        kind = PATHS.get(request.path_info)
        if kind is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"detail": "Method not allowed."}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        if has_detail_token(request):
            return health_response(request, kind, detailed=True)
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            return self.get_response(request)
        return health_response(request, kind, detailed=False)
