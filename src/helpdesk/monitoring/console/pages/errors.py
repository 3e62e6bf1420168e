"""Errors and browser: what breaks for users, and which pages feel slow? The error tracker's
unresolved issues seen in the range (helpdesk.monitoring.errors), and Web Vitals per page
route: p75 of each vital with the shares of good, needs-improvement and poor page views
(web.dev's thresholds, which are bucket bounds of the browser histograms, so the shares are
exact bucket ratios), all through the query layer."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client.utils import floatToGoString

from helpdesk.monitoring.browser.budget import THRESHOLDS
from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import reader_required
from helpdesk.monitoring.console.charts import Chart, Series, register
from helpdesk.monitoring.console.views import FAIL, NONE, OK, WARN, render_page
from helpdesk.monitoring.errors.models import ErrorIssue, Status
from helpdesk.monitoring.history import query as q

logger = logging.getLogger(__name__)

VITALS = "browser_web_vital_seconds"
CLS = "browser_web_vital_cls"
SHOWN_VITALS = ("LCP", "INP", "CLS", "FCP", "TTFB")
LEVEL_STATUS = {"fatal": FAIL, "error": FAIL, "warning": WARN}

register(
    Chart(
        "errors.events",
        "Error events per second",
        "req/s",
        (Series("{level}", lambda w: q.rate("errors_events_total", w, by=["level"])),),
        "Events the error tracker stored, by level (every project).",
    )
)
register(
    Chart(
        "browser.lcp",
        "LCP p75 by route",
        "seconds",
        (
            Series(
                "{route}",
                lambda w: q.quantile(0.75, VITALS, w, by=["route"], where='metric="LCP"'),
            ),
        ),
        "Largest Contentful Paint, 75th percentile of page views (good ≤ 2.5 s, poor > 4 s).",
        max_lines=8,
    )
)


def _histogram(vital: str) -> tuple[str, str]:
    """Return (histogram name, label matchers) of a vital."""
    return (CLS, "") if vital == "CLS" else (VITALS, f'metric="{vital}"')


def _by_route(backend: q.Backend, expr: q.Expr) -> dict[str, float]:
    return {value.labels.get("route", ""): value.value for value in backend.instant(expr)}


def vitals_table(window: int, backend: q.Backend | None = None) -> list[dict[str, Any]]:
    """Return per route and vital: views, p75, and the good / needs-improvement / poor
    shares over ``window`` seconds, the routes with most page views first."""
    backend = backend or q.backend()
    rows: dict[str, dict[str, Any]] = {}
    for vital in SHOWN_VITALS:
        histogram, where = _histogram(vital)
        selector = f"{{{where}}}" if where else ""
        counts = _by_route(
            backend, q.increase(f"{histogram}_count{selector}", window, by=["route"])
        )
        if not counts:
            continue
        good_at, poor_at = THRESHOLDS[vital]
        matchers = f"{where}," if where else ""
        good = _by_route(
            backend,
            q.increase(
                f'{histogram}_bucket{{{matchers}le="{floatToGoString(good_at)}"}}',
                window,
                by=["route"],
            ),
        )
        not_poor = _by_route(
            backend,
            q.increase(
                f'{histogram}_bucket{{{matchers}le="{floatToGoString(poor_at)}"}}',
                window,
                by=["route"],
            ),
        )
        p75 = _by_route(backend, q.quantile(0.75, histogram, window, by=["route"], where=where))
        for route, views in counts.items():
            if views <= 0:
                continue
            good_share = good.get(route, 0.0) / views
            poor_share = max(0.0, 1.0 - not_poor.get(route, 0.0) / views)
            value = p75.get(route)
            status = (
                NONE
                if value is None
                else OK
                if value <= good_at
                else WARN
                if value <= poor_at
                else FAIL
            )
            row = rows.setdefault(route, {"route": route, "views": 0.0, "vitals": {}})
            row["views"] = max(row["views"], views)
            row["vitals"][vital] = {
                "views": views,
                "p75": value,
                "unit": "count" if vital == "CLS" else "seconds",
                "good": good_share,
                "needs_improvement": max(0.0, 1.0 - good_share - poor_share),
                "poor": poor_share,
                "status": status,
            }
    return sorted(rows.values(), key=lambda row: (-row["views"], row["route"]))


@reader_required
def errors_page(request: HttpRequest) -> HttpResponse:
    """Render the Errors and browser page."""
    range_ = charts.range_of(request.GET.get("range"))
    since = timezone.now() - timedelta(seconds=range_.seconds)
    issues = (
        ErrorIssue.objects.select_related("project")
        .filter(last_seen__gte=since)
        .filter(Q(status=Status.UNRESOLVED) | Q(regressed_at__gte=since))
        .order_by("-last_seen", "-id")[:50]
    )
    error = ""
    vitals: list[dict[str, Any]] = []
    try:
        vitals = vitals_table(range_.seconds)
    except q.QueryError as failure:
        logger.warning("browser figures unavailable on the console: %s", failure)
        error = "The metrics backend did not answer."
    return render_page(
        request,
        "console/errors.html",
        "errors",
        {
            "issues": [
                {"issue": issue, "status": LEVEL_STATUS.get(issue.level, NONE)} for issue in issues
            ],
            "vitals": vitals,
            "vital_names": SHOWN_VITALS,
            "error": error,
        },
    )
