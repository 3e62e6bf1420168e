"""Bearer-token authentication for the REST API."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from helpdesk.accounts.models import ApiToken, hash_token

logger = logging.getLogger(__name__)
User = get_user_model()

# Writing last_used_at on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=5)

# The token's user, with the token's id and what authentication decides, in one statement.
# Every API request runs it: the select_related queryset it replaces cost three times as much
# CPU to compile and build (0.57 against 0.21 ms, 7 % of a ticket list; docs/benchmarks.md,
# "Load"). Times are compared in SQL, as the database stores them.
_USER_BY_KEY_SQL = """
    SELECT u.*, t.id AS token_id,
        (t.expires_at IS NOT NULL AND t.expires_at <= %s) AS token_expired,
        (t.last_used_at IS NULL OR t.last_used_at < %s) AS token_unused_lately
    FROM auth_user u JOIN accounts_apitoken t ON t.user_id = u.id
    WHERE t.key_hash = %s
"""


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
        now = timezone.now()
        adapt = connection.ops.adapt_datetimefield_value
        params = [adapt(now), adapt(now - _LAST_USED_RESOLUTION), hash_token(raw)]
        user = next(iter(User.objects.raw(_USER_BY_KEY_SQL, params)), None)
        # The statement's extra columns are plain attributes of the user.
        extra = vars(user) if user is not None else {}
        if user is None or extra["token_expired"] or not user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        if extra["token_unused_lately"]:
            ApiToken.objects.filter(pk=extra["token_id"]).update(last_used_at=now)
        # The token as a model instance (its other fields load if read): logout deletes it.
        token = ApiToken.from_db(connection.alias, ["id", "user_id"], [extra["token_id"], user.pk])
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
