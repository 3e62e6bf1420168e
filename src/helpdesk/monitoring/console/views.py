"""What every console page shares: the page context (menu, role, time range, auto-refresh),
the status vocabulary, and sign-in / sign-out.

A page is a function in ``pages/`` decorated with ``reader_required`` that returns
``render_page(request, "console/<page>.html", "<nav key>", {...})``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import STAFF, role
from helpdesk.monitoring.console.nav import NAV

logger = logging.getLogger(__name__)

# Auto-refresh choices in seconds (0: off); the page reloads itself (frontend/src/console).
REFRESH_CHOICES = (0, 30, 60, 300)
# The one status vocabulary of every page: CSS classes st-ok, st-warn, st-fail, st-none.
OK, WARN, FAIL, NONE = "ok", "warn", "fail", "none"
_HEALTH = {"pass": OK, "warn": WARN, "fail": FAIL}


def health_status(value: str) -> str:
    """Map a health status (pass/warn/fail) onto the console's ok/warn/fail."""
    return _HEALTH.get(value, NONE)


def _refresh(request: HttpRequest) -> int:
    try:
        value = int(request.GET.get("refresh", "0"))
    except ValueError:
        return 0
    return value if value in REFRESH_CHOICES else 0


def page_context(request: HttpRequest, active: str) -> dict[str, Any]:
    """Return what base.html needs: menu, role, the chosen range and refresh."""
    range_ = charts.range_of(request.GET.get("range"))
    refresh = _refresh(request)
    query = f"?range={range_.key}" + (f"&refresh={refresh}" if refresh else "")
    user_role = role(getattr(request, "user", None))
    return {
        "nav": [
            {"key": item.key, "label": item.label, "url": reverse(item.url_name) + query}
            for item in NAV
        ],
        "active": active,
        "role": user_role,
        "can_act": user_role == STAFF,
        "range": range_,
        "ranges": list(charts.RANGES.values()),
        "refresh": refresh,
        "refresh_choices": REFRESH_CHOICES,
        "query": query,
        "backend": "prometheus" if settings.PROMETHEUS_URL else "embedded",
        "version": settings.HELPDESK_VERSION,
    }


def render_page(
    request: HttpRequest, template: str, active: str, context: dict[str, Any] | None = None
) -> HttpResponse:
    """Render a console page with the shared context; never cached (live figures)."""
    response = render(request, template, {**page_context(request, active), **(context or {})})
    response["Cache-Control"] = "private, no-store"
    return response


class LoginView(auth_views.LoginView):
    """The console's sign-in (the same authentication backends as every login, lockout
    included); staff and monitoring-group members land on the overview."""

    template_name = "console/login.html"
    redirect_authenticated_user = False

    def get_default_redirect_url(self) -> str:
        return reverse("console:overview")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            backend="prometheus" if settings.PROMETHEUS_URL else "embedded",
            version=settings.HELPDESK_VERSION,
        )
        return context


login = never_cache(LoginView.as_view())
logout = auth_views.LogoutView.as_view(next_page="console:login")
