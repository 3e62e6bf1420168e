"""Business: are customers being answered in time? Tickets by status and the backlog by
priority and organization, first-response and resolution times, SLA breaches — now from the
business metrics (``helpdesk.monitoring.metrics.business.collect_business``, the families
/metrics serves), and over the range from the history (backlog, flow, times, breaches)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client.core import Metric
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.monitoring.access import MONITORING_AUTHENTICATION
from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import IsConsoleReader, reader_required
from helpdesk.monitoring.console.charts import Chart, Series
from helpdesk.monitoring.console.views import FAIL, NONE, OK, WARN, render_page
from helpdesk.monitoring.history import query as q
from helpdesk.monitoring.metrics.business import collect_business
from helpdesk.tickets.states import Priority, Status

logger = logging.getLogger(__name__)

OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING)
_OPEN = '{status=~"new|open|pending"}'
RESOLUTION = "helpdesk_ticket_resolution_seconds"
FIRST_RESPONSE = "helpdesk_ticket_first_response_seconds"
# First responses in time below this share warn (the first-response SLO's objective is 95 %).
MET_WARN = 0.95

charts.register(
    Chart(
        "business.backlog",
        "Open tickets by status",
        "count",
        (Series("{status}", lambda w: q.gauge(f"helpdesk_tickets{_OPEN}", by=["status"])),),
        "Tickets not yet resolved or closed, by status.",
    )
)
charts.register(
    Chart(
        "business.flow",
        "Tickets created and resolved",
        "count",
        (
            Series("created", lambda w: q.increase("helpdesk_tickets_created_total", w)),
            Series("resolved", lambda w: q.increase("helpdesk_tickets_resolved_total", w)),
        ),
        "Tickets created and resolved per chart step.",
    )
)
charts.register(
    Chart(
        "business.times",
        "First response and resolution time (median)",
        "seconds",
        (
            Series("first response", lambda w: q.quantile(0.5, FIRST_RESPONSE, w)),
            Series("resolution", lambda w: q.quantile(0.5, RESOLUTION, w)),
        ),
        "Median over the tickets answered or resolved in each step.",
    )
)
charts.register(
    Chart(
        "business.sla",
        "SLA breaches",
        "count",
        (Series("{state}", lambda w: q.gauge("helpdesk_tickets_sla_breached", by=["state"])),),
        "Open tickets past their SLA due time, and tickets resolved after it.",
    )
)


def duration(seconds: float | None) -> str:
    """Return ``seconds`` as people read a wait: 45 s, 12 min, 3 h 05 min, 2 d 4 h ("—": none)."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{secs} s"


def _histogram(family: Metric) -> dict[str, Any]:
    buckets, total, seconds = [], 0.0, 0.0
    for sample in family.samples:
        # The exposition's sample names: <family>_bucket{le}, <family>_count, <family>_sum.
        if sample.name == f"{family.name}_bucket":
            buckets.append((float(sample.labels["le"]), sample.value))
        elif sample.name == f"{family.name}_count":
            total = sample.value
        elif sample.name == f"{family.name}_sum":
            seconds = sample.value
    found: dict[str, Any] = {
        "count": total,
        "mean": seconds / total if total else None,
        "p50": q.quantile_of(0.5, buckets),
        "p90": q.quantile_of(0.9, buckets),
    }
    # For the page (the JSON keeps the seconds).
    found["text"] = {key: duration(found[key]) for key in ("mean", "p50", "p90")}
    return found


def summary(families: list[Metric]) -> dict[str, Any]:
    """Return the page's figures and tables from the business metric families."""
    by_name = {family.name: family for family in families}
    by_status: dict[str, float] = defaultdict(float)
    by_priority: dict[str, float] = defaultdict(float)
    by_org: dict[str, float] = defaultdict(float)
    for sample in by_name["helpdesk_tickets"].samples:
        labels = sample.labels
        by_status[labels["status"]] += sample.value
        if labels["status"] in OPEN_STATUSES:
            by_priority[labels["priority"]] += sample.value
            by_org[labels["organization"]] += sample.value
    breached = {
        sample.labels["state"]: 0.0 for sample in by_name["helpdesk_tickets_sla_breached"].samples
    }
    for sample in by_name["helpdesk_tickets_sla_breached"].samples:
        breached[sample.labels["state"]] += sample.value
    outcomes = {
        sample.labels["outcome"]: sample.value
        for sample in by_name["helpdesk_tickets_first_response"].samples
        if sample.name.endswith("_total")
    }
    answered = outcomes.get("met", 0.0) + outcomes.get("missed", 0.0)
    met = outcomes.get("met", 0.0) / answered if answered else None
    first = _histogram(by_name[FIRST_RESPONSE])
    resolution = _histogram(by_name[RESOLUTION])
    backlog = sum(by_priority.values())
    overdue = breached.get("open", 0.0)
    figures: list[dict[str, Any]] = [
        {"label": "Backlog (open tickets)", "value": backlog, "unit": "count", "status": NONE},
        {
            "label": "Open past SLA",
            "value": overdue,
            "unit": "count",
            "status": FAIL if overdue else OK,
        },
        {
            "label": "First responses in time",
            "value": met,
            "unit": "ratio",
            "status": NONE if met is None else OK if met >= MET_WARN else WARN,
        },
        {
            "label": "First response, median",
            "value": first["p50"],
            "unit": "seconds",
            "display": first["text"]["p50"],
        },
        {
            "label": "Resolution, median",
            "value": resolution["p50"],
            "unit": "seconds",
            "display": resolution["text"]["p50"],
        },
        {
            "label": "Resolved after SLA",
            "value": breached.get("resolved", 0.0),
            "unit": "count",
            "status": WARN if breached.get("resolved") else OK,
        },
    ]
    for figure in figures:
        figure.setdefault("status", NONE)
    return {
        "figures": figures,
        "by_status": [
            {"key": value, "name": label, "count": by_status.get(value, 0.0)}
            for value, label in Status.choices
        ],
        "by_priority": [
            {"key": value, "name": label, "count": by_priority.get(value, 0.0)}
            for value, label in Priority.choices
        ],
        "by_organization": [
            {"key": org, "name": org, "count": count}
            for org, count in sorted(by_org.items(), key=lambda item: (-item[1], item[0]))
        ],
        "first_response": first,
        "resolution": resolution,
        "outcomes": {"met": outcomes.get("met", 0.0), "missed": outcomes.get("missed", 0.0)},
        "breached": breached,
    }


def current() -> dict[str, Any]:
    """Return the summary of the business metrics now (a handful of grouped queries)."""
    return summary(collect_business(settings.METRICS_TOP_ORGANIZATIONS))


class _Count(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    count = serializers.FloatField()


class _Figure(serializers.Serializer):
    # "label" would shadow the field's own ``label`` attribute in DRF.
    title = serializers.CharField(source="label")
    value = serializers.FloatField(allow_null=True)
    unit = serializers.CharField(help_text="count, ratio or seconds.")
    status = serializers.ChoiceField(choices=[OK, WARN, FAIL, NONE])


class _Times(serializers.Serializer):
    count = serializers.FloatField()
    mean = serializers.FloatField(allow_null=True)
    p50 = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)


class BusinessSerializer(serializers.Serializer):
    """The business figures now (all tickets; times in seconds)."""

    figures = _Figure(many=True)
    by_status = _Count(many=True)
    by_priority = _Count(many=True, help_text="Open tickets (new, open, pending).")
    by_organization = _Count(
        many=True, help_text="Open tickets; organizations past METRICS_TOP_ORGANIZATIONS: other."
    )
    first_response = _Times()
    resolution = _Times()
    outcomes = serializers.DictField(child=serializers.FloatField(), help_text="met, missed.")
    breached = serializers.DictField(child=serializers.FloatField(), help_text="open, resolved.")


class BusinessView(APIView):
    """GET /api/v1/monitoring/console/business/: the business page's figures as JSON."""

    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsConsoleReader]

    @extend_schema(summary="Console business figures", responses={200: BusinessSerializer})
    def get(self, request: Request) -> Response:
        """Return the figures and tables of the business page."""
        data = BusinessSerializer(current()).data
        return Response(data, headers={"Cache-Control": "private, max-age=10"})


@reader_required
def business_page(request: HttpRequest) -> HttpResponse:
    """Render the business page."""
    return render_page(
        request,
        "console/business.html",
        "business",
        {
            "biz": current(),
            "charts": ["business.backlog", "business.flow", "business.times", "business.sla"],
        },
    )
