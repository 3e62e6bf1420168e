"""Tenants, roles and API tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

logger = logging.getLogger(__name__)


class Organization(models.Model):
    """A tenant: its agents work its tickets, its customers raise them."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    AGENT = "agent", "Agent"
    CUSTOMER = "customer", "Customer"


STAFF_ROLES = (Role.ADMIN, Role.AGENT)


class Membership(models.Model):
    """A user's role in one organization."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_role_per_org")
        ]
        indexes = [models.Index(fields=["organization", "role"])]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.organization}"


def hash_token(raw: str) -> str:
    """Return the stored form of a token: a SHA-256 hex digest (tokens are random, no salt)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the API. Only its hash is stored; the key is shown once."""

    PREFIX = "hdk_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    # The first characters let a user tell tokens apart without revealing them.
    key_prefix = models.CharField(max_length=12)
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.user})"

    @classmethod
    def issue(cls, user: models.Model, name: str = "") -> tuple[ApiToken, str]:
        """Create a token for ``user``; return the row and the raw key (never stored)."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        ttl = settings.API_TOKEN_TTL_DAYS
        token = cls.objects.create(
            user=user,
            key_hash=hash_token(raw),
            key_prefix=raw[:10],
            name=name[:100],
            expires_at=timezone.now() + timedelta(days=ttl) if ttl else None,
        )
        return token, raw
