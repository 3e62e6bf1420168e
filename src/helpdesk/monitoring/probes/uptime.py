"""The state and daily uptime of the parts customers use: web pages, sign-in and the API.

Each public component is measured by one synthetic probe when PROBE_CHECKS runs it and its
latest run is recent; otherwise by the health checks' readiness (a failing critical check
means the app cannot serve anything). ``current()`` answers now; ``record()`` (a worker job
every ``SAMPLE_SECONDS``) adds one sample per component to its ``UptimeDay`` of today and
drops days older than ``RETENTION_DAYS``; ``days()`` reads the bars back.

States: ``operational``; ``degraded`` (the probe's latest run failed, once); ``outage`` (the
probe failed twice in a row, or readiness fails). A run that could not judge the app (a probe
without its account: the ``setup`` phase failed) does not count; the health checks answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.monitoring.health.runner import FAIL, default_runner
from helpdesk.monitoring.probes.models import ProbeRun, UptimeDay

logger = logging.getLogger(__name__)

OPERATIONAL, DEGRADED, OUTAGE = "operational", "degraded", "outage"
RETENTION_DAYS = 90
SAMPLE_SECONDS = 60.0


@dataclass(frozen=True)
class Component:
    """A part of the product customers use, and the probe that measures it."""

    key: str
    title: str
    probe: str


COMPONENTS = (
    Component("web", "Web pages", "ready"),
    Component("signin", "Sign-in", "login"),
    Component("api", "API", "journey"),
)


@dataclass(frozen=True)
class State:
    """A component's state now and what measured it (``probe`` or ``health``)."""

    component: Component
    state: str
    source: str
    checked_at: datetime | None


@dataclass(frozen=True)
class Day:
    """One day of a component's uptime bar; ``uptime`` is None without samples."""

    day: date
    samples: int
    outages: int
    degraded: int

    @property
    def uptime(self) -> float | None:
        return None if not self.samples else 1.0 - self.outages / self.samples

    @property
    def level(self) -> str:
        """Return the bar's colour class: none, ok, warn (some trouble) or fail (< 99 %)."""
        uptime = self.uptime
        if uptime is None:
            return "none"
        if not self.outages and not self.degraded:
            return "ok"
        return "warn" if uptime >= 0.99 else "fail"


def _fresh_after(now: datetime) -> datetime:
    # Three missed intervals (plus a run's own deadline) and the probe no longer speaks for now.
    interval = settings.PROBE_INTERVAL_SECONDS
    return now - timedelta(seconds=3 * interval + settings.PROBE_TIMEOUT_SECONDS)


def _from_probe(component: Component, now: datetime) -> State | None:
    if component.probe not in settings.PROBE_CHECKS:
        return None
    runs = list(
        ProbeRun.objects.filter(probe=component.probe, started_at__gte=_fresh_after(now))
        .exclude(failed_phase="setup")
        .values_list("success", "started_at")[:2]
    )
    if not runs:
        return None
    success, started_at = runs[0]
    if success:
        state = OPERATIONAL
    elif len(runs) > 1 and not runs[1][0]:
        state = OUTAGE
    else:
        state = DEGRADED
    return State(component, state, "probe", started_at)


def current(now: datetime | None = None) -> list[State]:
    """Return every component's state now (probes first, the health checks otherwise)."""
    now = now or timezone.now()
    states: list[State] = []
    readiness: str | None = None
    for component in COMPONENTS:
        state = _from_probe(component, now)
        if state is None:
            if readiness is None:
                # The runner's cached report (HEALTH_CACHE_SECONDS): no extra probing.
                readiness = default_runner().report().status
            state = State(component, OUTAGE if readiness == FAIL else OPERATIONAL, "health", now)
        states.append(state)
    return states


def _add(component: str, day: date, state: str) -> None:
    increments = {
        "samples": F("samples") + 1,
        "outages": F("outages") + int(state == OUTAGE),
        "degraded": F("degraded") + int(state == DEGRADED),
    }
    if UptimeDay.objects.filter(component=component, day=day).update(**increments):
        return
    try:
        with transaction.atomic():
            UptimeDay.objects.create(
                component=component,
                day=day,
                samples=1,
                outages=int(state == OUTAGE),
                degraded=int(state == DEGRADED),
            )
    except IntegrityError:
        # Another worker created today's row first: add to it.
        UptimeDay.objects.filter(component=component, day=day).update(**increments)


def record(now: datetime | None = None) -> dict[str, str]:
    """Add one sample of every component's state to today's row; prune old days."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    outcome = {}
    for state in current(now):
        _add(state.component.key, today, state.state)
        outcome[state.component.key] = state.state
    UptimeDay.objects.filter(day__lte=today - timedelta(days=RETENTION_DAYS)).delete()
    return outcome


def days(count: int = RETENTION_DAYS, today: date | None = None) -> dict[str, list[Day]]:
    """Return component key → its last ``count`` days (oldest first, today last)."""
    today = today or timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=count - 1)
    stored = {
        (row.component, row.day): row
        for row in UptimeDay.objects.filter(day__gte=first, day__lte=today)
    }
    bars: dict[str, list[Day]] = {}
    for component in COMPONENTS:
        line = []
        for offset in range(count):
            day = first + timedelta(days=offset)
            row = stored.get((component.key, day))
            line.append(
                Day(day, row.samples, row.outages, row.degraded) if row else Day(day, 0, 0, 0)
            )
        bars[component.key] = line
    return bars


def uptime(line: list[Day]) -> float | None:
    """Return the uptime over the days of ``line`` that have samples, or None."""
    samples = sum(day.samples for day in line)
    return None if not samples else 1.0 - sum(day.outages for day in line) / samples
