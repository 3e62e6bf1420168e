"""Channels configured from the environment, kept in step with ``Channel`` rows.

``sync_from_settings()`` creates or updates the ``env:slack``, ``env:email``, ``env:webhook``
and ``env:escalation-email`` channels from ALERT_* settings (the worker calls it at start).
A channel whose setting was removed is disabled with that reason; a channel disabled by a
permanent error stays disabled until its configuration changes. Channels made in the admin
are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from helpdesk.monitoring.alerting.models import Channel

logger = logging.getLogger(__name__)


def configured() -> dict[str, dict[str, Any]]:
    """Return the environment's channels: name → kind, config, severities, escalation."""
    found: dict[str, dict[str, Any]] = {}
    if settings.ALERT_SLACK_WEBHOOK_URL:
        found["env:slack"] = {
            "kind": "slack",
            "config": {"url": settings.ALERT_SLACK_WEBHOOK_URL},
            "severities": settings.ALERT_SLACK_SEVERITIES,
            "digest": settings.ALERT_WARNING_DIGEST,
        }
    if settings.ALERT_EMAIL_TO:
        found["env:email"] = {
            "kind": "email",
            "config": {"to": settings.ALERT_EMAIL_TO},
            "severities": settings.ALERT_EMAIL_SEVERITIES,
            "digest": settings.ALERT_WARNING_DIGEST,
        }
    if settings.ALERT_WEBHOOK_URL:
        found["env:webhook"] = {
            "kind": "webhook",
            "config": {"url": settings.ALERT_WEBHOOK_URL, "secret": settings.ALERT_WEBHOOK_SECRET},
            "severities": settings.ALERT_WEBHOOK_SEVERITIES,
            "digest": settings.ALERT_WARNING_DIGEST,
        }
    if settings.ALERT_ESCALATION_EMAIL_TO:
        found["env:escalation-email"] = {
            "kind": "email",
            "config": {"to": settings.ALERT_ESCALATION_EMAIL_TO},
            "severities": ["critical"],
            "escalation": True,
        }
    return found


def sync_from_settings() -> list[Channel]:
    """Create/update the environment's channels; returns them."""
    wanted = configured()
    result = []
    with transaction.atomic():
        for name, spec in wanted.items():
            channel, created = Channel.objects.get_or_create(
                name=name,
                defaults={
                    "kind": spec["kind"],
                    "config": spec["config"],
                    "severities": spec["severities"],
                    "escalation": spec.get("escalation", False),
                    "digest": spec.get("digest", False),
                },
            )
            if not created:
                changed = channel.config != spec["config"] or channel.kind != spec["kind"]
                channel.kind = spec["kind"]
                channel.config = spec["config"]
                channel.severities = spec["severities"]
                channel.escalation = spec.get("escalation", False)
                channel.digest = spec.get("digest", False)
                if changed or channel.disabled_reason == "not configured":
                    channel.enabled, channel.disabled_reason, channel.disabled_at = True, "", None
                channel.save()
            result.append(channel)
        Channel.objects.filter(name__startswith="env:", enabled=True).exclude(
            name__in=list(wanted)
        ).update(enabled=False, disabled_reason="not configured")
    return result
