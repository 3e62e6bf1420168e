"""Who may read monitoring data: staff users, or callers holding a monitoring token.

Monitoring endpoints (/metrics, health details, /api/v1/monitoring/…) reveal internals, so
they are closed by default. Plain Django views call ``bearer_matches`` / ``is_monitoring_reader``;
DRF views use ``MonitoringTokenAuthentication`` with the ``IsMonitoringReader`` permission.
Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework import authentication, permissions
from rest_framework.request import Request

from helpdesk.accounts.authentication import BearerTokenAuthentication
from helpdesk.lib.drf import django_request

logger = logging.getLogger(__name__)


def bearer_token(request: HttpRequest) -> str | None:
    """Return the token of an ``Authorization: Bearer …`` header, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def bearer_matches(request: HttpRequest, *expected: str) -> bool:
    """Return True when the request's bearer token equals one of the non-empty ``expected``."""
    given = bearer_token(request)
    if given is None:
        return False
    given_bytes = given.encode()
    return any(hmac.compare_digest(given_bytes, token.encode()) for token in expected if token)


def is_staff(request: HttpRequest) -> bool:
    """Return True when the request carries an active staff user's session."""
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


def is_monitoring_reader(request: HttpRequest, *extra_tokens: str) -> bool:
    """Return True for staff, the MONITORING_API_TOKEN, or any of ``extra_tokens``."""
    return is_staff(request) or bearer_matches(
        request, settings.MONITORING_API_TOKEN, *extra_tokens
    )


class MonitoringPrincipal(AnonymousUser):
    """The authenticated identity of a caller that presented the monitoring token."""

    username = "monitoring-token"  # type: ignore[assignment]

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True


class MonitoringTokenAuthentication(authentication.BaseAuthentication):
    """Accept ``Authorization: Bearer $MONITORING_API_TOKEN``; defer to others otherwise.

    Put it before the user-token authenticator on monitoring views: an unknown bearer value is
    passed on (None), so user tokens keep working and wrong ones still answer 401.
    """

    def authenticate(self, request: Request) -> tuple[Any, str] | None:
        if bearer_matches(django_request(request), settings.MONITORING_API_TOKEN):
            return MonitoringPrincipal(), "monitoring-token"
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="monitoring"'


class IsMonitoringReader(permissions.BasePermission):
    """Allow staff users and holders of the monitoring token."""

    message = "Monitoring data needs a staff account or the monitoring token."

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.user, MonitoringPrincipal):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class IsStaffUser(permissions.BasePermission):
    """Allow active staff users only: changes are not for the (read-only) monitoring token."""

    message = "This change needs a staff account."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff and user.pk)


# The authenticators of every monitoring API view: the monitoring token, then user tokens and
# sessions (staff users).
MONITORING_AUTHENTICATION: list[type[authentication.BaseAuthentication]] = [
    MonitoringTokenAuthentication,
    BearerTokenAuthentication,
    authentication.SessionAuthentication,
]
