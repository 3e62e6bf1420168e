"""Who may use the console: staff act, members of the monitoring group read, others get 403.

- anonymous visitors are sent to the console's login page (``?next=`` back);
- active staff users see every page and may act (acknowledge, silence, unlock);
- active members of ``settings.CONSOLE_GROUP`` ("monitoring") see every page, read-only;
- any other signed-in user gets 403.

Pages use ``reader_required`` / ``staff_required``; the JSON endpoints behind the charts use
the DRF permission ``IsConsoleReader`` (which also takes the monitoring token, as the other
monitoring APIs do).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from rest_framework import permissions
from rest_framework.request import Request

from helpdesk.monitoring.access import MonitoringPrincipal

logger = logging.getLogger(__name__)

STAFF, READER = "staff", "reader"
View = Callable[..., HttpResponse]
DENIED = "The monitoring console needs a staff account or the monitoring group."


def role(user: Any) -> str | None:
    """Return "staff", "reader" (member of the monitoring group) or None for ``user``."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_staff:
        return STAFF
    if user.groups.filter(name=settings.CONSOLE_GROUP).exists():
        return READER
    return None


def _guard(view: View, allowed: set[str]) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("console:login"))
        found = role(user)
        if found not in allowed:
            raise PermissionDenied(DENIED)
        return view(request, *args, **kwargs)

    return wrapped


def reader_required(view: View) -> View:
    """Let staff and monitoring-group members see the page; send anonymous visitors to login."""
    return _guard(view, {STAFF, READER})


def staff_required(view: View) -> View:
    """Let only staff use the view (the console's actions); read-only members get 403."""
    return _guard(view, {STAFF})


class IsConsoleReader(permissions.BasePermission):
    """Allow staff, monitoring-group members and holders of the monitoring token."""

    message = DENIED

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.user, MonitoringPrincipal):
            return True
        return role(request.user) is not None
