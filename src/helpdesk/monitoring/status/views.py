"""The public status page: ``GET /status/``, no login, cacheable for STATUS_PAGE_CACHE_SECONDS.

The view reads neither the session nor the user, so the answer is the same for everyone
(no ``Vary: Cookie``) and shared caches may keep it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from helpdesk.monitoring.status import page

logger = logging.getLogger(__name__)


@require_safe
def status_page(request: HttpRequest) -> HttpResponse:
    """Render the status page (no request context: nothing per-visitor on it)."""
    response = HttpResponse(render_to_string("status/status.html", page.build()))
    patch_cache_control(response, public=True, max_age=settings.STATUS_PAGE_CACHE_SECONDS)
    return response
