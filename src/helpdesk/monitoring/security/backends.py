"""The lockout gate in front of every password check.

``LockoutBackend`` comes first in AUTHENTICATION_BACKENDS: Django's ``authenticate()`` asks it
before the model backend, for the session login, the admin login and the token endpoint
alike. When the IP or the account is locked it marks the request and raises PermissionDenied,
which stops ``authenticate()`` before any password is checked; the security middleware then
answers 429 with Retry-After.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from helpdesk.lib.client_ip import client_ip
from helpdesk.monitoring.security.lockout import engine

logger = logging.getLogger(__name__)

LOCK_ATTRIBUTE = "_security_lock"


class LockoutBackend(BaseBackend):
    """Refuse authentication while the client IP or the account is locked out."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None  # a shell or a script: no client to lock out
        lock = engine.check(client_ip(request), username)
        if lock is not None:
            setattr(request, LOCK_ATTRIBUTE, lock)
            request._security_blocked = True  # type: ignore[attr-defined]
            raise PermissionDenied("locked out")
        return None

    def get_user(self, user_id: Any) -> Any:
        # Sessions record the backend that logged a user in; login() without a backend
        # (force_login, tests) picks the first one, which is this gate.
        return ModelBackend().get_user(user_id)
