"""Alertmanager both ways: parse its webhook payloads, and call its v2 API (silences).

``parse_webhook`` validates a version 4 webhook payload and returns the alerts in it; it
raises ``PayloadError`` naming the first problem (the view answers 400 with it).
``ingest`` applies them: a firing alert opens (or updates) the episode of its fingerprint and
startsAt, a resolved one closes it, so Alertmanager's repeats never duplicate anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from helpdesk.lib import http
from helpdesk.monitoring.alerting import services
from helpdesk.monitoring.alerting.models import Alert, normalize_severity

logger = logging.getLogger(__name__)

_ZERO_TIME = "0001-01-01T00:00:00Z"


class PayloadError(ValueError):
    """A webhook payload is not what Alertmanager sends; the message names the field."""


@dataclass(frozen=True)
class IncomingAlert:
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str


def _time(value: Any, where: str) -> datetime | None:
    if value in (None, "", _ZERO_TIME):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where} must be an RFC 3339 time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{where} is not an RFC 3339 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{where} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00: the database could not take it
        raise PayloadError(f"{where} is out of range once converted to UTC") from None


def _strings(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"{where}.{key} must be a string")
    return dict(value)


def parse_webhook(payload: Any) -> list[IncomingAlert]:
    """Validate a version 4 webhook payload; returns its alerts or raises PayloadError."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object")
    if str(payload.get("version")) != "4":
        raise PayloadError('version must be "4" (Alertmanager webhook format)')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts must be a list")
    result = []
    for index, item in enumerate(alerts):
        where = f"alerts[{index}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{where} must be an object")
        status = item.get("status")
        if status not in {"firing", "resolved"}:
            raise PayloadError(f"{where}.status must be firing or resolved")
        labels = _strings(item.get("labels"), f"{where}.labels")
        if not labels.get("alertname"):
            raise PayloadError(f"{where}.labels.alertname is required")
        annotations = _strings(item.get("annotations", {}), f"{where}.annotations")
        starts_at = _time(item.get("startsAt"), f"{where}.startsAt")
        if starts_at is None:
            raise PayloadError(f"{where}.startsAt is required")
        fingerprint = item.get("fingerprint") or services.fingerprint_of(labels)
        if not isinstance(fingerprint, str) or len(fingerprint) > 64:
            raise PayloadError(f"{where}.fingerprint must be a string of at most 64 characters")
        generator = item.get("generatorURL", "")
        result.append(
            IncomingAlert(
                status=status,
                labels=labels,
                annotations=annotations,
                starts_at=starts_at,
                ends_at=_time(item.get("endsAt"), f"{where}.endsAt"),
                generator_url=generator if isinstance(generator, str) else "",
                fingerprint=fingerprint,
            )
        )
    return result


def ingest(alerts: list[IncomingAlert], now: datetime | None = None) -> dict[str, int]:
    """Apply parsed webhook alerts to the alert center; returns counts of what changed."""
    now = now or timezone.now()
    counts = {"opened": 0, "resolved": 0, "unchanged": 0}
    for incoming in alerts:
        if incoming.status == "firing":
            _, created = services.fire(
                name=incoming.labels["alertname"],
                labels=incoming.labels,
                annotations=incoming.annotations,
                source=Alert.Source.ALERTMANAGER,
                starts_at=incoming.starts_at,
                fingerprint=incoming.fingerprint,
                generator_url=incoming.generator_url,
                now=now,
            )
            counts["opened" if created else "unchanged"] += 1
            continue
        resolved = services.resolve(incoming.fingerprint, ends_at=incoming.ends_at or now, now=now)
        if (
            resolved is None
            and not Alert.objects.filter(
                fingerprint=incoming.fingerprint, starts_at=incoming.starts_at
            ).exists()
        ):
            # Resolved before we ever heard it fire: keep it in the history, notify nobody.
            Alert.objects.create(
                fingerprint=incoming.fingerprint,
                name=incoming.labels["alertname"],
                labels=incoming.labels,
                annotations=incoming.annotations,
                severity=normalize_severity(incoming.labels.get("severity")),
                status=Alert.Status.RESOLVED,
                source=Alert.Source.ALERTMANAGER,
                generator_url=incoming.generator_url[:1000],
                starts_at=incoming.starts_at,
                ends_at=incoming.ends_at or now,
                created_at=now,
                updated_at=now,
            )
        counts["resolved" if resolved else "unchanged"] += 1
    return counts


def create_silence(
    matchers: list[dict[str, Any]], starts_at: datetime, ends_at: datetime, by: str, comment: str
) -> str:
    """Create a silence in Alertmanager (v2 API); returns its id. Raises http.HttpError or
    ValueError when Alertmanager cannot be reached or refuses."""
    response = http.post(
        f"{settings.ALERTMANAGER_URL}/api/v2/silences",
        json={
            "matchers": [
                {
                    "name": m["name"],
                    "value": m["value"],
                    "isRegex": bool(m.get("isRegex")),
                    "isEqual": bool(m.get("isEqual", True)),
                }
                for m in matchers
            ],
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": by or "helpdesk",
            "comment": comment or "acknowledged in the helpdesk alert center",
        },
        timeout=5,
        trusted=True,
    )
    if response.status != 200:
        raise ValueError(f"Alertmanager answered {response.status}")
    return str(response.json().get("silenceID", ""))


def acknowledge(alert: Alert, user: Any, name: str) -> dict[str, Any]:
    """Acknowledge ``alert`` (stops repeats and escalation) as the alert center does for the
    API and the console: with ALERTMANAGER_URL set and the alert firing, also silence it
    there for ALERT_ACK_SILENCE_SECONDS. Returns ``{"changed": bool}`` plus
    ``alertmanager_silence`` (its id) or ``alertmanager_silence_error``."""
    changed = services.acknowledge(alert, by=user, by_name=name)
    body: dict[str, Any] = {"changed": changed}
    if changed and settings.ALERTMANAGER_URL and alert.status == "firing":
        now = timezone.now()
        ends = now + timedelta(seconds=settings.ALERT_ACK_SILENCE_SECONDS)
        matchers = [{"name": k, "value": v, "isRegex": False} for k, v in alert.labels.items()]
        try:
            silence_id = create_silence(matchers, now, ends, name, f"acknowledged alert {alert.pk}")
            services.create_silence(
                matchers=matchers,
                starts_at=now,
                ends_at=ends,
                created_by=name,
                comment=f"ack of alert {alert.pk}",
                alertmanager_id=silence_id,
            )
            body["alertmanager_silence"] = silence_id
        except (http.HttpError, ValueError) as error:
            logger.warning("Alertmanager silence for an ack failed: %s", error)
            body["alertmanager_silence_error"] = "Alertmanager could not be reached."
    return body
