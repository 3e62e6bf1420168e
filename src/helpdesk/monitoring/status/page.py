"""Build what the public status page shows, from public-safe facts only.

Incidents are the critical alerts of the alert center that fire now or resolved in the last
``RECENT_DAYS`` days; each shows under a public title (``_title``), never its name, labels or
annotations, which may name hosts and internals. Operators add context with ``StatusMessage``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from helpdesk.monitoring.alerting.models import Alert, Severity
from helpdesk.monitoring.probes import uptime
from helpdesk.monitoring.status.models import StatusMessage

logger = logging.getLogger(__name__)

RECENT_DAYS = 14
MAX_INCIDENTS = 20
# A certificate about to expire pages the operators but disrupts nobody yet.
NOT_INCIDENTS = {"TLSCertificateExpiryCritical"}
_TITLES = {
    "HighErrorRate": "Elevated error rates",
    "ErrorBudgetBurn": "Elevated error rates",
    "ErrorSpike": "Elevated error rates",
    "WorkerHeartbeatMissing": "Notifications delayed",
}
_SUMMARIES = {
    uptime.OPERATIONAL: "All systems operational",
    uptime.DEGRADED: "Degraded performance",
    uptime.OUTAGE: "Partial outage",
}
_RANK = {uptime.OPERATIONAL: 0, uptime.DEGRADED: 1, uptime.OUTAGE: 2}


@dataclass(frozen=True)
class Message:
    """An operator's public message."""

    body: str
    updated_at: datetime


@dataclass
class Incident:
    """A critical alert episode as the public sees it."""

    title: str
    started_at: datetime
    resolved_at: datetime | None
    messages: list[Message] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.resolved_at is None


def _title(alert: Alert) -> str:
    return _TITLES.get(alert.name, "Service disruption")


def incidents(now: datetime) -> list[Incident]:
    """Return open incidents, then those resolved in the last RECENT_DAYS, newest first."""
    alerts = (
        Alert.objects.filter(severity=Severity.CRITICAL)
        .exclude(name__in=NOT_INCIDENTS)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gte=now - timedelta(days=RECENT_DAYS)))
        .prefetch_related("status_messages")[:MAX_INCIDENTS]
    )
    found = []
    for alert in alerts:
        messages = [
            Message(message.body, message.updated_at)
            for message in alert.status_messages.all()
            if message.published
        ]
        found.append(Incident(_title(alert), alert.starts_at, alert.ends_at, messages))
    found.sort(key=lambda incident: (not incident.open, -incident.started_at.timestamp()))
    return found


def notices(now: datetime) -> list[Message]:
    """Return the published messages not tied to an incident that are still visible."""
    rows = StatusMessage.objects.filter(alert__isnull=True, published=True).filter(
        Q(visible_until__isnull=True) | Q(visible_until__gt=now)
    )
    return [Message(row.body, row.updated_at) for row in rows[:10]]


def _label(day: uptime.Day) -> str:
    ratio = day.uptime
    text = "no data" if ratio is None else f"{ratio * 100:.2f} % uptime"
    return f"{day.day:%d %b %Y}: {text}"


def build(now: datetime | None = None) -> dict[str, Any]:
    """Return the template context of the status page."""
    now = now or timezone.now()
    states = uptime.current(now)
    bars = uptime.days()
    components = []
    for state in states:
        line = bars[state.component.key]
        ratio = uptime.uptime(line)
        components.append(
            {
                "title": state.component.title,
                "state": state.state,
                "days": [{"level": day.level, "label": _label(day)} for day in line],
                "uptime": None if ratio is None else round(ratio * 100, 2),
            }
        )
    worst = max((state.state for state in states), key=_RANK.__getitem__)
    everything_down = all(state.state == uptime.OUTAGE for state in states)
    found = incidents(now)
    return {
        "summary": "Major outage" if everything_down else _SUMMARIES[worst],
        "level": {uptime.OPERATIONAL: "ok", uptime.DEGRADED: "warn"}.get(worst, "fail"),
        "components": components,
        "open_incidents": [incident for incident in found if incident.open],
        "recent_incidents": [incident for incident in found if not incident.open],
        "notices": notices(now),
        "days": uptime.RETENTION_DAYS,
        "recent_days": RECENT_DAYS,
        "updated_at": now,
    }
