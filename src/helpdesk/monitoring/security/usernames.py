"""The keyed hash that stands for a username in security events, counters and lockouts."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def hash_username(username: str) -> str:
    """Return the keyed hash of a username (case-insensitive), 64 hex characters.

    HMAC-SHA256 with SECRET_KEY: failed-login names can be correlated without being kept in
    plain text, and nobody without the key can test a guess against a stored hash.
    """
    key = settings.SECRET_KEY.encode()
    return hmac.new(
        key, b"security-username:" + username.strip().lower().encode(), "sha256"
    ).hexdigest()
