"""Alerts while the database is down: deliver directly, spool to a file, reconcile later.

The outbox lives in the database, so an alert about the database itself cannot use it.
``deliver_directly`` sends to the channels configured in the environment (they need no
database), with the same idempotency keys the outbox would use, and appends a JSON line to
``$HELPDESK_DATA_DIR/alerting/spool.jsonl`` (flushed and fsynced). When the database answers
again ``reconcile`` writes each spooled episode into the alert history with its notifications:
the ones already delivered as ``sent``, the failed ones as ``pending`` so the worker retries
them, and then clears the file. Appends from several threads are serialized by a lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from helpdesk.monitoring.alerting import channels, services
from helpdesk.monitoring.alerting.models import Alert, Channel, Notification
from helpdesk.monitoring.alerting.transports import Message, TransportError, transport_class

logger = logging.getLogger(__name__)

_lock = threading.Lock()


def path() -> Path:
    """Return the spool file's path."""
    return Path(settings.DATA_DIR) / "alerting" / "spool.jsonl"


def deliver_directly(  # noqa: PLR0917 - one record's fields
    state: str,
    name: str,
    severity: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    at: datetime,
) -> dict[str, str]:
    """Send a firing/resolved alert to the environment's channels without the database, and
    spool it; returns each channel's outcome (``sent`` or the error)."""
    fingerprint = services.fingerprint_of(labels)
    starts_at = at
    if state == "resolved":
        starts_at = _spooled_start(fingerprint) or at
    outcomes: dict[str, str] = {}
    for channel_name, spec in channels.configured().items():
        if spec.get("escalation") or (spec["severities"] and severity not in spec["severities"]):
            continue
        if state == "resolved" and channel_name not in _told(fingerprint, starts_at):
            continue
        key = services.idempotency_key(fingerprint, starts_at, state, channel_name)
        message = Message(
            idempotency_key=key,
            kind=state,
            name=name,
            severity=severity,
            status=state,
            labels=labels,
            annotations=annotations,
            starts_at=starts_at,
            ends_at=at if state == "resolved" else None,
        )
        try:
            transport_class(spec["kind"])(spec["config"]).send(message)
            outcomes[channel_name] = "sent"
        except TransportError as error:
            outcomes[channel_name] = error.message
    record = {
        "state": state,
        "name": name,
        "severity": severity,
        "fingerprint": fingerprint,
        "labels": labels,
        "annotations": annotations,
        "starts_at": starts_at.isoformat(),
        "at": at.isoformat(),
        "outcomes": outcomes,
    }
    _append(record)
    logger.warning(
        "alert %s %s delivered directly (database down): %s",
        name,
        state,
        outcomes,
        extra={"event.action": f"alert_{state}_spooled"},
    )
    return outcomes


def _append(record: dict[str, Any]) -> None:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock, target.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read() -> list[dict[str, Any]]:
    """Return the spooled records (a torn last line from a crash is skipped)."""
    target = path()
    if not target.exists():
        return []
    records = []
    for line in target.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            logger.warning("skipping a torn line in the alert spool")
    return records


def _spooled_start(fingerprint: str) -> datetime | None:
    for record in reversed(read()):
        if record["fingerprint"] == fingerprint and record["state"] == "firing":
            return datetime.fromisoformat(record["starts_at"])
    try:
        alert = Alert.objects.filter(fingerprint=fingerprint, status="firing").first()
    except DatabaseError:
        return None
    return alert.starts_at if alert else None


def _told(fingerprint: str, starts_at: datetime) -> set[str]:
    told = {
        name
        for record in read()
        if record["fingerprint"] == fingerprint and record["state"] == "firing"
        for name in record["outcomes"]
    }
    with contextlib.suppress(DatabaseError):
        told |= set(
            Notification.objects.filter(
                alert__fingerprint=fingerprint, alert__starts_at=starts_at, kind="firing"
            ).values_list("channel__name", flat=True)
        )
    return told


def reconcile(now: datetime | None = None) -> int:
    """Write spooled records into the alert history and outbox; returns records applied.

    Raises DatabaseError when the database is still down (the file is kept).
    """
    records = read()
    if not records:
        return 0
    now = now or timezone.now()
    env_channels = {c.name: c for c in channels.sync_from_settings()}
    with transaction.atomic():
        for record in records:
            _apply(record, env_channels, now)
    with _lock:
        # Only what was read is cleared: lines appended meanwhile stay for the next turn.
        remaining = read()[len(records) :]
        target = path()
        temporary = target.with_suffix(".tmp")
        temporary.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in remaining))
        temporary.replace(target)
    logger.info("reconciled %d spooled alert records", len(records))
    return len(records)


def _apply(record: dict[str, Any], env_channels: dict[str, Channel], now: datetime) -> None:
    starts_at = datetime.fromisoformat(record["starts_at"])
    at = datetime.fromisoformat(record["at"])
    alert = Alert.objects.filter(fingerprint=record["fingerprint"], starts_at=starts_at).first()
    if alert is None:
        current = Alert.objects.filter(fingerprint=record["fingerprint"], status="firing").first()
        alert = current or Alert.objects.create(
            fingerprint=record["fingerprint"],
            name=record["name"],
            labels=record["labels"],
            annotations=record["annotations"],
            severity=record["severity"],
            source=Alert.Source.BUILTIN,
            starts_at=starts_at,
            created_at=now,
            updated_at=now,
        )
    for channel_name, outcome in record["outcomes"].items():
        channel = env_channels.get(channel_name)
        if channel is None:
            continue
        key = services.idempotency_key(
            alert.fingerprint, alert.starts_at, record["state"], channel_name
        )
        delivered = outcome == "sent"
        try:
            with transaction.atomic():
                Notification.objects.create(
                    alert=alert,
                    channel=channel,
                    kind=record["state"],
                    idempotency_key=key,
                    status="sent" if delivered else "pending",
                    attempts=1,
                    sent_at=at if delivered else None,
                    last_error="" if delivered else outcome[:500],
                    next_attempt_at=now,
                    created_at=at,
                )
        except IntegrityError:
            pass
    if record["state"] == "resolved" and alert.status == "firing":
        services.resolve(alert.fingerprint, ends_at=at, now=now)
