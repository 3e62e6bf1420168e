"""Deliver the notification outbox: claim, send, then mark sent, retry later or dead-letter.

Several workers may run ``deliver_due`` at once. A row is claimed with a conditional update
(``UPDATE … SET status='sending' WHERE id=… AND status='pending'``, or on a stale 'sending'
row whose lease ran out because its worker died) and a row count of 0 means another worker
got it: no lock server needed. The claim writes a random token; only the holder of the token
may settle the row, so a worker that lost its lease cannot overwrite the new owner's result.

Delivery is at least once: a worker killed after the receiver accepted but before the row was
marked sent leaves the row to be sent again after the lease, with the same idempotency key,
which receivers use to drop the repeat.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from helpdesk.monitoring.alerting import services
from helpdesk.monitoring.alerting.models import Alert, Channel, Notification
from helpdesk.monitoring.alerting.transports import TransportError, transport_class

logger = logging.getLogger(__name__)

# How long a resolved notification waits when the firing one to the same channel is not out
# yet: "resolved" must never arrive before "firing".
_ORDER_WAIT = timedelta(seconds=2)


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Return the seconds to wait after the ``attempts``-th failure (exponential, jittered).

    Full jitter between half and all of ``base * 2**(attempts-1)``, capped, so a receiver that
    comes back is not hit by every worker at the same instant.
    """
    base = settings.ALERT_DELIVERY_BACKOFF_SECONDS
    ceiling = min(settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS, base * 2 ** max(attempts - 1, 0))
    return ceiling * (0.5 + (rng or random).random() / 2)


def _due(now: datetime, limit: int) -> list[int]:
    lease = now - timedelta(seconds=settings.ALERT_DELIVERY_LEASE_SECONDS)
    query = Notification.objects.filter(
        Q(status="pending", next_attempt_at__lte=now) | Q(status="sending", claimed_at__lt=lease)
    ).order_by("next_attempt_at", "id")
    return list(query.values_list("id", flat=True)[:limit])


def claim(notification_id: int, now: datetime) -> str | None:
    """Claim one row for delivery; returns the claim token, or None if another worker has it."""
    token = uuid.uuid4().hex
    lease = now - timedelta(seconds=settings.ALERT_DELIVERY_LEASE_SECONDS)
    claimed = (
        Notification.objects.filter(id=notification_id)
        .filter(
            Q(status="pending", next_attempt_at__lte=now)
            | Q(status="sending", claimed_at__lt=lease)
        )
        .update(status="sending", claimed_at=now, claim_token=token, attempts=F("attempts") + 1)
    )
    return token if claimed == 1 else None


def _settle(notification_id: int, token: str, **fields: object) -> bool:
    return (
        Notification.objects.filter(id=notification_id, status="sending", claim_token=token).update(
            **fields
        )
        == 1
    )


def _must_wait(row: Notification) -> bool:
    if row.kind != "resolved" or row.alert_id is None:
        return False
    return (
        Notification.objects.filter(
            alert_id=row.alert_id,
            channel_id=row.channel_id,
            kind__in=["firing", "repeat", "escalation"],
            status__in=["pending", "sending"],
        )
        .exclude(pk=row.pk)
        .exists()
    )


def disable_channel(channel: Channel, reason: str, now: datetime) -> bool:
    """Disable a channel after a permanent error and raise an alert about it (once)."""
    changed = Channel.objects.filter(pk=channel.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=now
    )
    if changed:
        logger.error(
            "notification channel %s disabled: %s",
            channel.name,
            reason,
            extra={"event.action": "alert_channel_disabled", "alert.channel": channel.name},
        )
        services.fire(
            name="NotificationChannelDisabled",
            labels={"alertname": "NotificationChannelDisabled", "channel": channel.name},
            annotations={
                "summary": f"Notification channel {channel.name} was disabled",
                "description": f"It answered with a permanent error: {reason}. Fix its "
                "configuration and enable it again in the admin.",
            },
            severity="error",
            now=now,
        )
    return bool(changed)


def deliver_one(notification_id: int, now: datetime | None = None) -> str:
    """Claim and deliver one outbox row; returns what happened (``sent``, ``retry``,
    ``dead``, ``waiting``, ``taken``)."""
    now = now or timezone.now()
    token = claim(notification_id, now)
    if token is None:
        return "taken"
    row = Notification.objects.select_related("alert", "channel").get(pk=notification_id)
    if _must_wait(row):
        # Not an attempt: give the claim back untouched.
        _settle(
            row.pk,
            token,
            status="pending",
            attempts=F("attempts") - 1,
            next_attempt_at=now + _ORDER_WAIT,
        )
        return "waiting"
    channel: Channel = row.channel
    alert: Alert | None = row.alert
    try:
        if not channel.enabled:
            raise TransportError(
                f"channel disabled: {channel.disabled_reason or 'by an operator'}", permanent=True
            )
        transport = transport_class(channel.kind)(channel.config)
        if alert is None:
            message = services.digest_message(row)
        else:
            message = services.message_for(alert, row.kind, row.idempotency_key)
        transport.send(message)
    except (TransportError, KeyError) as error:
        if isinstance(error, KeyError):
            error = TransportError(f"unknown channel kind {channel.kind!r}", permanent=True)
        return _failed(row, token, error, now)
    except Exception:
        # A bug in a transport must not kill the worker or lose the row: retry it later.
        logger.exception("transport %s crashed", channel.kind)
        return _failed(row, token, TransportError("internal error in the transport"), now)
    _settle(row.pk, token, status="sent", sent_at=timezone.now(), last_error="")
    logger.info(
        "notification %s sent",
        row.idempotency_key,
        extra={"event.action": "alert_notification_sent", "alert.channel": channel.name},
    )
    return "sent"


def _failed(row: Notification, token: str, error: TransportError, now: datetime) -> str:
    attempts = row.attempts
    dead = error.permanent or attempts >= settings.ALERT_DELIVERY_MAX_ATTEMPTS
    if dead:
        _settle(row.pk, token, status="dead", last_error=error.message)
        logger.error(
            "notification %s dead after %d attempts: %s",
            row.idempotency_key,
            attempts,
            error.message,
            extra={"event.action": "alert_notification_dead", "alert.channel": row.channel.name},
        )
        if error.permanent and row.channel.enabled:
            disable_channel(row.channel, error.message, now)
        return "dead"
    delay = backoff(attempts)
    _settle(
        row.pk,
        token,
        status="pending",
        last_error=error.message,
        next_attempt_at=now + timedelta(seconds=delay),
    )
    logger.warning(
        "notification %s attempt %d failed (%s); next in %.1f s",
        row.idempotency_key,
        attempts,
        error.message,
        delay,
        extra={"event.action": "alert_notification_retry"},
    )
    return "retry"


def deliver_due(now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Deliver up to ``limit`` due rows; returns counts by outcome."""
    counts: dict[str, int] = {}
    for notification_id in _due(now or timezone.now(), limit):
        outcome = deliver_one(notification_id, timezone.now() if now is None else now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
