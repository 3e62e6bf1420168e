"""Business metrics computed at scrape time from the database (never per-request writes).

``BusinessCollector`` runs a handful of grouped queries and keeps the result for
METRICS_BUSINESS_CACHE_SECONDS, so frequent scrapes (or several Prometheus servers) cost one
set of queries per interval and process. The organization label is bounded: the
METRICS_TOP_ORGANIZATIONS organizations with most tickets keep their slug, the rest are summed
as ``other``. ``BuildInfoCollector`` exports ``helpdesk_build_info``.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from helpdesk import __version__
from helpdesk.accounts.models import ApiToken
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.services import first_response_outcomes
from helpdesk.tickets.states import Status

logger = logging.getLogger(__name__)

OTHER = "other"
ACTIVE_WINDOW = timedelta(minutes=15)
RESOLUTION_BUCKETS = (900, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)
FIRST_RESPONSE_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400)
_CLOSED = (Status.RESOLVED, Status.CLOSED)


def _bounded(counts: dict[str, float], top: int) -> set[str]:
    """Return the organizations that keep their own label (the ``top`` largest)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {slug for slug, _ in ranked[:top]}


def _histogram(
    name: str, doc: str, field: str, start: str, buckets: Iterable[int]
) -> HistogramMetricFamily:
    """Build a histogram of ``field - start`` over tickets where ``field`` is set, in SQL."""
    elapsed = ExpressionWrapper(F(field) - F(start), output_field=DurationField())
    aggregates: dict[str, Any] = {
        f"le_{bound}": Count("pk", filter=Q(elapsed__lte=timedelta(seconds=bound)))
        for bound in buckets
    }
    row = (
        Ticket.objects.filter(**{f"{field}__isnull": False})
        .annotate(elapsed=elapsed)
        .aggregate(total=Count("pk"), seconds=Sum("elapsed"), **aggregates)
    )
    total = row["total"] or 0
    seconds = row["seconds"].total_seconds() if row["seconds"] else 0.0
    family = HistogramMetricFamily(name, doc)
    family.add_metric(
        [],
        [(str(float(b)), float(row[f"le_{b}"])) for b in buckets] + [("+Inf", float(total))],
        seconds,
    )
    return family


def collect_business(top: int) -> list[Metric]:
    """Query the database and return the business families (see the module docstring)."""
    grouped = list(
        Ticket.objects.values_list("organization__slug", "status", "priority").annotate(
            n=Count("pk"),
            resolved=Count("pk", filter=Q(resolved_at__isnull=False)),
            breached_open=Count(
                "pk", filter=Q(sla_due_at__lt=timezone.now()) & ~Q(status__in=_CLOSED)
            ),
            breached_resolved=Count("pk", filter=Q(resolved_at__gt=F("sla_due_at"))),
        )
    )
    per_org: dict[str, float] = defaultdict(float)
    for slug, _status, _priority, n, *_ in grouped:
        per_org[slug] += n
    keep = _bounded(per_org, top)

    tickets: dict[tuple[str, str, str], float] = defaultdict(float)
    created: dict[str, float] = defaultdict(float)
    resolved: dict[str, float] = defaultdict(float)
    breached: dict[tuple[str, str], float] = defaultdict(float)
    for slug, status, priority, n, n_resolved, b_open, b_resolved in grouped:
        org = slug if slug in keep else OTHER
        tickets[(org, status, priority)] += n
        created[org] += n
        resolved[org] += n_resolved
        breached[(org, "open")] += b_open
        breached[(org, "resolved")] += b_resolved

    out: list[Metric] = []
    family = GaugeMetricFamily(
        "helpdesk_tickets",
        "Tickets by organization, status and priority.",
        labels=["organization", "status", "priority"],
    )
    for labels, value in sorted(tickets.items()):
        family.add_metric(list(labels), value)
    out.append(family)
    for name, doc, values in (
        ("helpdesk_tickets_created", "Tickets created, by organization.", created),
        ("helpdesk_tickets_resolved", "Tickets resolved, by organization.", resolved),
    ):
        counter = CounterMetricFamily(name, doc, labels=["organization"])
        for org, value in sorted(values.items()):
            counter.add_metric([org], value)
        out.append(counter)
    sla = GaugeMetricFamily(
        "helpdesk_tickets_sla_breached",
        "Tickets past their SLA: open ones past sla_due_at, resolved ones resolved after it.",
        labels=["organization", "state"],
    )
    for (org, state), value in sorted(breached.items()):
        sla.add_metric([org, state], value)
    out.append(sla)
    met, missed = first_response_outcomes(None, timezone.now())
    outcomes = CounterMetricFamily(
        "helpdesk_tickets_first_response",
        "First responses by outcome against the SLA policy: met (in time), missed (late or "
        "none by the due time). The first-response SLO's events.",
        labels=["outcome"],
    )
    outcomes.add_metric(["met"], met)
    outcomes.add_metric(["missed"], missed)
    out.append(outcomes)
    out.append(
        _histogram(
            "helpdesk_ticket_resolution_seconds",
            "Time from creation to resolution of resolved tickets.",
            "resolved_at",
            "created_at",
            RESOLUTION_BUCKETS,
        )
    )
    out.append(
        _histogram(
            "helpdesk_ticket_first_response_seconds",
            "Time from creation to the first response.",
            "first_response_at",
            "created_at",
            FIRST_RESPONSE_BUCKETS,
        )
    )
    users = get_user_model().objects
    since = timezone.now() - ACTIVE_WINDOW
    token_users = ApiToken.objects.filter(last_used_at__gte=since).values("user_id")
    active = users.filter(Q(last_login__gte=since) | Q(pk__in=token_users)).count()
    out.append(
        GaugeMetricFamily(
            "helpdesk_users_active",
            "Users seen in the last 15 minutes (login or API token use).",
            value=active,
        )
    )
    out.append(CounterMetricFamily("helpdesk_users_created", "User accounts.", value=users.count()))
    return out


class BusinessCollector(Collector):
    """Yield the business families, cached for METRICS_BUSINESS_CACHE_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: list[Metric] = []
        self._at = float("-inf")

    def collect(self) -> Iterator[Metric]:
        ttl = settings.METRICS_BUSINESS_CACHE_SECONDS
        top = settings.METRICS_TOP_ORGANIZATIONS
        with self._lock:
            now = time.monotonic()
            if now - self._at >= ttl:
                self._families = collect_business(top)
                self._at = now
            families = self._families
        yield from families


@lru_cache(maxsize=1)
def git_commit() -> str:
    """Return GIT_COMMIT from the environment, else ``git rev-parse HEAD`` (once), else ''."""
    commit = os.environ.get("GIT_COMMIT", "").strip()
    if commit:
        return commit[:40]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()[:40] if result.returncode == 0 else ""


class BuildInfoCollector(Collector):
    """Yield ``helpdesk_build_info`` (value 1, the build in labels)."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "helpdesk_build_info",
            "The running build: version, git commit, Python and Django versions.",
            labels=["version", "git_commit", "python_version", "django_version"],
        )
        family.add_metric(
            [__version__, git_commit(), platform.python_version(), django.get_version()], 1
        )
        yield family
