"""Alerts, silences, notification channels, the notification outbox and worker heartbeats.

An ``Alert`` is one episode of a condition: it fires once (``starts_at``) and resolves once
(``ends_at``). Every notification an alert state change causes is a ``Notification`` row (the
outbox) written in the same transaction as the change; the worker delivers the rows. Its
``idempotency_key`` is unique, so the same (alert, state, channel) can never be queued twice,
and receivers get it to drop a redelivery.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, F, Max, Q, Value
from django.db.models.functions import Now
from django.utils import timezone

logger = logging.getLogger(__name__)


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


def normalize_severity(value: object) -> str:
    """Return a known severity for any label value (unknown values count as warning)."""
    text = str(value or "").lower()
    if text in SEVERITY_RANK:
        return text
    return {"page": "critical", "high": "error", "low": "info", "none": "info"}.get(text, "warning")


class Alert(models.Model):
    """One episode of an alerting condition, from the embedded evaluator or Alertmanager."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    class Source(models.TextChoices):
        BUILTIN = "builtin", "Built-in evaluator"
        ALERTMANAGER = "alertmanager", "Alertmanager"

    fingerprint = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=200)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FIRING)
    source = models.CharField(max_length=16, choices=Source.choices)
    generator_url = models.CharField(max_length=1000, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    acknowledged_by_name = models.CharField(max_length=150, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            # Alertmanager repeats an alert with the same fingerprint and startsAt: one row.
            models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="alert_episode"),
            # Two workers evaluating the same rule cannot open two episodes at once.
            models.UniqueConstraint(
                fields=["fingerprint"], condition=Q(status="firing"), name="one_firing_episode"
            ),
        ]
        indexes = [models.Index(fields=["status", "severity", "starts_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class Silence(models.Model):
    """Suppress notifications of alerts whose labels match every matcher, within a window.

    A matcher is ``{"name": label, "value": text, "isRegex": bool, "isEqual": bool}`` as in
    Alertmanager's v2 API; a regex must match the whole label value.
    """

    matchers = models.JSONField()
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    comment = models.CharField(max_length=500, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    alertmanager_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at", "-id"]

    def __str__(self) -> str:
        return f"silence {self.pk} until {self.ends_at:%Y-%m-%d %H:%M}"

    def active_at(self, when: Any) -> bool:
        return bool(self.starts_at <= when < self.ends_at)

    def matches(self, labels: dict[str, Any]) -> bool:
        """Return True when every matcher matches ``labels`` (a missing label is "")."""
        for matcher in self.matchers:
            value = str(labels.get(matcher["name"], ""))
            if matcher.get("isRegex"):
                hit = re.fullmatch(matcher["value"], value) is not None
            else:
                hit = value == matcher["value"]
            if hit != matcher.get("isEqual", True):
                return False
        return True


class Channel(models.Model):
    """Where notifications go: a kind (slack, email, webhook…) and its configuration.

    ``severities`` routes: the channel gets alerts of those severities (empty: all). An
    ``escalation`` channel gets only escalations of unacknowledged critical alerts. A
    ``digest`` channel gets warnings once a day in one message instead of one by one. Channels
    named ``env:<kind>`` are kept in step with the environment by ``channels.sync_from_settings``.
    """

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32)
    config = models.JSONField(default=dict, blank=True)
    severities = models.JSONField(default=list, blank=True)
    escalation = models.BooleanField(default=False)
    digest = models.BooleanField(default=False)
    last_digest_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def routes(self, severity: str) -> bool:
        """Return True when this (non-escalation) channel takes alerts of ``severity`` one by
        one (a digest channel takes warnings in its daily digest instead)."""
        if self.digest and severity == "warning":
            return False
        return not self.severities or severity in self.severities


class Notification(models.Model):
    """An outbox row: one message about one alert state to one channel."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Dead letter"

    class Kind(models.TextChoices):
        FIRING = "firing", "Firing"
        REPEAT = "repeat", "Repeat"
        RESOLVED = "resolved", "Resolved"
        ESCALATION = "escalation", "Escalation"
        DIGEST = "digest", "Daily digest"

    # A digest is about several alerts: no alert, its content in ``payload``.
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    payload = models.JSONField(default=dict, blank=True)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return self.idempotency_key


def oldest_pending_age(now: datetime | None = None) -> float:
    """Return how long the oldest undelivered notification has waited, in seconds (0: none).

    A row never tried waits from when it became due (``next_attempt_at``). A row that failed
    and waits for its retry waits from when it was queued (``created_at``): its
    ``next_attempt_at`` moves ahead with every backoff, so measuring from it would never show
    a channel that keeps failing (the backlog signal of NotificationDeliveryFailing).

    Without ``now`` the wait is measured on the database's clock, which also stamped most
    rows: a worker whose own clock runs ahead would otherwise see every fresh row as hours
    old and report a backlog that is not there.
    """
    at: Any = Now() if now is None else Value(now, output_field=models.DateTimeField())

    def waited(since: str) -> Any:
        return ExpressionWrapper(at - F(since), output_field=models.DurationField())

    oldest = Notification.objects.filter(status=Notification.Status.PENDING).aggregate(
        untried=Max(waited("next_attempt_at"), filter=Q(attempts=0, next_attempt_at__lte=at)),
        retried=Max(waited("created_at"), filter=Q(attempts__gt=0)),
    )
    waits = [value.total_seconds() for value in oldest.values() if value is not None]
    return max([*waits, 0.0])


class WorkerHeartbeat(models.Model):
    """The last sign of life of one worker process (the readiness check reads these)."""

    worker_id = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    jobs = models.JSONField(default=dict)
    # The worker's wall clock minus the database's at the beat (ClockSkew).
    clock_offset_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return self.worker_id
