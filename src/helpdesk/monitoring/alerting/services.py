"""Every write of the alert center: alert state changes with their outbox rows, acks, silences.

Each state change and the notifications it causes are written in ONE transaction: a crash
after the commit leaves rows the worker delivers; a crash before it leaves nothing half done.
Idempotency keys are ``<fingerprint>-<starts_at unix>:<kind>:<channel name>``: derived from
the episode, not from a database id, so the direct delivery made while the database is down
(``spool``) and the outbox agree on them.

Alert fatigue lives in ``schedule()``: one notification per state change per channel,
repeats at most every ALERT_REPEAT_INTERVAL_SECONDS while firing and unacknowledged (at most
ALERT_REPEAT_MAX), escalation of unacknowledged critical alerts, silences that hold
notifications back until they expire. Every function takes ``now`` so tests drive the clock.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from helpdesk.monitoring.alerting.models import (
    Alert,
    Channel,
    Notification,
    Silence,
    normalize_severity,
)
from helpdesk.monitoring.alerting.transports import Message

logger = logging.getLogger(__name__)


def fingerprint_of(labels: dict[str, Any]) -> str:
    """Return a stable 16-hex fingerprint of a label set (like Alertmanager's)."""
    canonical = json.dumps({str(k): str(v) for k, v in labels.items()}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def episode_key(fingerprint: str, starts_at: datetime) -> str:
    """Return the prefix of every idempotency key of one alert episode."""
    return f"{fingerprint}-{int(starts_at.timestamp())}"


def idempotency_key(fingerprint: str, starts_at: datetime, kind: str, channel_name: str) -> str:
    """Return the idempotency key of one (alert, state, channel)."""
    return f"{episode_key(fingerprint, starts_at)}:{kind}:{channel_name}"[:200]


def message_for(alert: Alert, kind: str, key: str) -> Message:
    """Return the transport message of ``alert`` for a notification of ``kind``."""
    return Message(
        idempotency_key=key,
        kind=kind.split("-", 1)[0],
        name=alert.name,
        severity=alert.severity,
        status="resolved" if kind == "resolved" else "firing",
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at if kind == "resolved" else None,
        source=alert.source,
        generator_url=alert.generator_url,
        alert_id=alert.pk,
        acknowledged_by=alert.acknowledged_by_name,
    )


def digest_message(notification: Notification) -> Message:
    """Return the transport message of a daily digest row."""
    alerts = notification.payload.get("alerts", [])
    lines = [
        f"- {a['name']} ({a['status']}, since {a['starts_at'][:16]}): {a['summary']}"
        for a in alerts
    ]
    start = datetime.fromisoformat(notification.payload["since"])
    return Message(
        idempotency_key=notification.idempotency_key,
        kind="digest",
        name="WarningDigest",
        severity="warning",
        status="firing",
        labels={"alertname": "WarningDigest"},
        annotations={
            "summary": f"{len(alerts)} warnings since {start:%Y-%m-%d %H:%M} UTC",
            "description": "\n".join(lines),
        },
        starts_at=start,
    )


def digest(now: datetime | None = None) -> int:
    """Queue each digest channel's daily summary of warnings (at most one a day, none when
    there was no warning); returns rows queued."""
    now = now or timezone.now()
    day = timedelta(days=1)
    queued = 0
    for channel in Channel.objects.filter(enabled=True, digest=True):
        if channel.last_digest_at is None:
            # The first day starts now: no digest of warnings from before it was asked for.
            Channel.objects.filter(pk=channel.pk, last_digest_at=None).update(last_digest_at=now)
            continue
        since = channel.last_digest_at
        if now - since < day:
            continue
        warnings = Alert.objects.filter(severity="warning", starts_at__lt=now).filter(
            Q(starts_at__gte=since) | Q(status="firing")
        )
        alerts = [
            {
                "name": a.name,
                "status": a.status,
                "starts_at": a.starts_at.isoformat(),
                "summary": str(a.annotations.get("summary", "")),
            }
            for a in warnings.order_by("starts_at")[:200]
        ]
        with transaction.atomic():
            updated = Channel.objects.filter(
                pk=channel.pk, last_digest_at=channel.last_digest_at
            ).update(last_digest_at=now)
            if updated and alerts:
                Notification.objects.create(
                    channel=channel,
                    kind="digest",
                    idempotency_key=f"digest-{now:%Y%m%d%H%M}:{channel.name}"[:200],
                    payload={"since": since.isoformat(), "alerts": alerts},
                    next_attempt_at=now,
                    created_at=now,
                )
                queued += 1
    return queued


def active_silences(now: datetime) -> list[Silence]:
    """Return the silences in force at ``now``."""
    return list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))


def is_silenced(
    labels: dict[str, Any], now: datetime, silences: Iterable[Silence] | None = None
) -> Silence | None:
    """Return the first silence in force at ``now`` that matches ``labels``, or None."""
    for silence in active_silences(now) if silences is None else silences:
        if silence.active_at(now) and silence.matches(labels):
            return silence
    return None


def routed_channels(severity: str) -> list[Channel]:
    """Return the enabled, non-escalation channels that take ``severity``."""
    return [c for c in Channel.objects.filter(enabled=True, escalation=False) if c.routes(severity)]


def _enqueue(alert: Alert, channel: Channel, kind: str, now: datetime) -> Notification | None:
    """Queue one notification unless its idempotency key exists; returns the new row."""
    key = idempotency_key(alert.fingerprint, alert.starts_at, kind, channel.name)
    if Notification.objects.filter(idempotency_key=key).exists():
        return None
    try:
        with transaction.atomic():
            return Notification.objects.create(
                alert=alert,
                channel=channel,
                kind=kind.split("-", 1)[0],
                idempotency_key=key,
                next_attempt_at=now,
                created_at=now,
            )
    except IntegrityError:  # another worker queued the same key an instant earlier
        return None


def fire(
    *,
    name: str,
    labels: dict[str, Any],
    annotations: dict[str, Any] | None = None,
    severity: str | None = None,
    source: str = Alert.Source.BUILTIN,
    starts_at: datetime | None = None,
    fingerprint: str | None = None,
    generator_url: str = "",
    now: datetime | None = None,
) -> tuple[Alert | None, bool]:
    """Open an alert episode and queue its firing notifications, in one transaction.

    Returns ``(alert, created)``. A fingerprint already firing is updated (annotations), not
    duplicated; a firing report for an episode already resolved is ignored (``(alert, False)``).
    """
    now = now or timezone.now()
    labels = {str(k): str(v) for k, v in labels.items()}
    labels.setdefault("alertname", name)
    severity = normalize_severity(severity or labels.get("severity"))
    fingerprint = fingerprint or fingerprint_of(labels)
    starts_at = starts_at or now
    with transaction.atomic():
        current = (
            Alert.objects.select_for_update()
            .filter(fingerprint=fingerprint, status="firing")
            .first()
        )
        if current is not None:
            if annotations is not None and current.annotations != annotations:
                current.annotations = annotations
                current.updated_at = now
                current.save(update_fields=["annotations", "updated_at"])
            return current, False
        done = Alert.objects.filter(fingerprint=fingerprint, starts_at=starts_at).first()
        if done is not None:
            return done, False
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    fingerprint=fingerprint,
                    name=name[:200],
                    labels=labels,
                    annotations=annotations or {},
                    severity=severity,
                    source=source,
                    generator_url=generator_url[:1000],
                    starts_at=starts_at,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:  # another worker opened this episode concurrently
            return Alert.objects.filter(fingerprint=fingerprint, status="firing").first(), False
        silence = is_silenced(labels, now)
        if silence is None:
            for channel in routed_channels(severity):
                _enqueue(alert, channel, "firing", now)
    logger.warning(
        "alert %s firing (%s)",
        name,
        severity,
        extra={
            "event.action": "alert_firing",
            "event.kind": "alert",
            "rule.name": name,
            "event.severity_name": severity,
            "alert.fingerprint": fingerprint,
            "alert.silenced": silence is not None,
        },
    )
    return alert, True


def resolve(
    fingerprint: str,
    *,
    ends_at: datetime | None = None,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> Alert | None:
    """Close the firing episode of ``fingerprint`` and queue one resolved notification per
    channel that was told it fired; returns the alert, or None when nothing was firing."""
    now = now or timezone.now()
    with transaction.atomic():
        query = Alert.objects.select_for_update().filter(fingerprint=fingerprint, status="firing")
        if starts_at is not None:
            query = query.filter(starts_at=starts_at)
        alert = query.first()
        if alert is None:
            return None
        alert.status = Alert.Status.RESOLVED
        alert.ends_at = ends_at or now
        alert.updated_at = now
        alert.save(update_fields=["status", "ends_at", "updated_at"])
        told = Channel.objects.filter(
            notifications__alert=alert, notifications__kind__in=["firing", "escalation"]
        ).distinct()
        for channel in told:
            _enqueue(alert, channel, "resolved", now)
    logger.info(
        "alert %s resolved",
        alert.name,
        extra={"event.action": "alert_resolved", "alert.fingerprint": fingerprint},
    )
    return alert


def acknowledge(
    alert: Alert, *, by: Any = None, by_name: str = "", now: datetime | None = None
) -> bool:
    """Mark a firing alert acknowledged (stops repeats and escalation); returns True if it
    was not acknowledged before."""
    now = now or timezone.now()
    name = by_name or (getattr(by, "username", "") if by is not None else "")
    user = by if by is not None and getattr(by, "pk", None) else None
    updated = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=user, acknowledged_by_name=name[:150], updated_at=now
    )
    alert.refresh_from_db()
    if updated:
        logger.info(
            "alert %s acknowledged by %s",
            alert.name,
            name,
            extra={"event.action": "alert_acknowledged", "user.name": name},
        )
    return bool(updated)


def create_silence(
    *,
    matchers: list[dict[str, Any]],
    ends_at: datetime,
    starts_at: datetime | None = None,
    comment: str = "",
    created_by: str = "",
    alertmanager_id: str = "",
) -> Silence:
    """Create a silence; matchers must already be validated (see serializers)."""
    return Silence.objects.create(
        matchers=matchers,
        starts_at=starts_at or timezone.now(),
        ends_at=ends_at,
        comment=comment[:500],
        created_by=created_by[:150],
        alertmanager_id=alertmanager_id,
    )


def expire_silence(silence: Silence, now: datetime | None = None) -> Silence:
    """End a silence now (held-back notifications go out at the next ``schedule``)."""
    now = now or timezone.now()
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at)
        silence.save(update_fields=["ends_at"])
    return silence


def schedule(now: datetime | None = None) -> int:
    """Queue what time alone causes: notifications a silence held back once it ends, repeats
    and escalations. Safe to run from several workers (keys are unique); returns rows queued.
    """
    now = now or timezone.now()
    queued = 0
    silences = active_silences(now)
    channels = list(Channel.objects.filter(enabled=True))
    routed = [c for c in channels if not c.escalation]
    escalation = [c for c in channels if c.escalation]
    interval = timedelta(seconds=settings.ALERT_REPEAT_INTERVAL_SECONDS)
    escalate_after = timedelta(seconds=settings.ALERT_ESCALATE_AFTER_SECONDS)
    queued += digest(now)
    for alert in Alert.objects.filter(status="firing"):
        if is_silenced(alert.labels, now, silences) is not None:
            continue
        history: dict[int, list[Notification]] = {}
        for row in alert.notifications.filter(kind__in=["firing", "repeat"]).order_by("id"):
            history.setdefault(row.channel_id, []).append(row)
        with transaction.atomic():
            for channel in routed:
                if not channel.routes(alert.severity):
                    continue
                rows = history.get(channel.pk)
                if not rows:
                    queued += _enqueue(alert, channel, "firing", now) is not None
                    continue
                repeats = len(rows) - 1
                if (
                    not alert.acknowledged
                    and repeats < settings.ALERT_REPEAT_MAX
                    and now - rows[-1].created_at >= interval
                ):
                    queued += _enqueue(alert, channel, f"repeat-{repeats + 1}", now) is not None
            if (
                alert.severity == "critical"
                and not alert.acknowledged
                and now - alert.starts_at >= escalate_after
            ):
                for channel in escalation:
                    queued += _enqueue(alert, channel, "escalation", now) is not None
    return queued
