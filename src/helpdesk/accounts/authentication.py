"""Bearer-token authentication for the REST API."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from helpdesk.accounts.models import ApiToken, hash_token

logger = logging.getLogger(__name__)

# Writing last_used_at on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=5)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate ``Authorization: Bearer <key>`` (or ``Token <key>``) against ApiToken.

    Returns None when no such header is present so other authenticators may run; raises
    AuthenticationFailed for a malformed, unknown, expired or inactive-user token.
    """

    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid Authorization header.") from None
        try:
            # get(), not first(): the hash is unique, and first() would add an ORDER BY.
            token = ApiToken.objects.select_related("user").get(key_hash=hash_token(raw))
        except ApiToken.DoesNotExist:
            token = None
        if token is None or token.expired or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
