"""Overview: is it up, is it slow, what is firing? Health checks, firing alerts, the request
rate, error ratio and latency quantiles over the chosen range, SLO budgets, the workers'
heartbeats and the running release."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from helpdesk.monitoring.alerting.models import Alert, WorkerHeartbeat
from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import reader_required
from helpdesk.monitoring.console.views import FAIL, NONE, OK, WARN, health_status, render_page
from helpdesk.monitoring.health.runner import default_runner
from helpdesk.monitoring.history import query as q
from helpdesk.monitoring.slo.prometheus import PrometheusError
from helpdesk.monitoring.slo.report import report as slo_report

logger = logging.getLogger(__name__)

_STARTED = time.time()
SEVERITY_STATUS = {"critical": FAIL, "warning": WARN, "info": NONE}


@dataclass(frozen=True)
class Figure:
    """One headline number: label, value (None: no data), unit and status."""

    label: str
    value: float | None
    unit: str
    status: str = NONE


def _one(backend: q.Backend, expr: q.Expr) -> float | None:
    values = backend.instant(expr)
    return sum(v.value for v in values) if values else None


def request_figures(window: int, backend: q.Backend | None = None) -> list[Figure]:
    """Return rate, error ratio and p50/p95/p99 over the last ``window`` seconds.

    Thresholds for the colours are the alert catalogue's defaults in spirit: errors above 1 %
    warn and above 5 % fail; p95 above SLOW_REQUEST_SECONDS warns.
    """
    backend = backend or q.backend()
    count = f"{charts.REQUESTS}_count"
    rate = _one(backend, q.rate(count, window))
    errors = _one(backend, q.increase(f'{count}{{http_response_status_code=~"5.."}}', window))
    total = _one(backend, q.increase(count, window))
    ratio = (errors or 0.0) / total if total else None
    figures = [
        Figure("Requests", rate, "req/s", OK if rate else NONE),
        Figure(
            "Errors (5xx)",
            ratio,
            "ratio",
            NONE if ratio is None else FAIL if ratio > 0.05 else WARN if ratio > 0.01 else OK,
        ),
    ]
    slow = settings.SLOW_REQUEST_SECONDS
    for quantile in (0.5, 0.95, 0.99):
        value = _one(backend, q.quantile(quantile, charts.REQUESTS, window))
        status = NONE if value is None else WARN if value > slow else OK
        figures.append(Figure(f"p{int(quantile * 100)}", value, "seconds", status))
    return figures


def _health() -> dict[str, Any]:
    report = default_runner().report()
    return {
        "status": health_status(report.status),
        "checks": [
            {
                "name": result.name,
                "status": health_status(result.effective_status),
                "critical": result.critical,
                "duration_ms": result.duration * 1000,
                "output": result.output,
            }
            for result in report.results
        ],
    }


def _slos() -> dict[str, Any]:
    try:
        found = slo_report()
    except (PrometheusError, q.QueryError, DatabaseError) as error:
        logger.warning("SLO report unavailable on the console: %s", error)
        return {"error": "The SLO figures are unavailable right now.", "slos": []}
    for slo in found["slos"]:
        remaining = slo["budget_remaining"]
        slo["status"] = FAIL if remaining <= 0 else WARN if remaining < 0.25 else OK
        slo["budget_percent"] = max(0.0, min(100.0, remaining * 100))
    return found


def _workers() -> list[dict[str, Any]]:
    now = timezone.now()
    stale = settings.WORKER_HEARTBEAT_STALE_SECONDS
    return [
        {
            "id": beat.worker_id,
            "host": beat.hostname,
            "beat_at": beat.beat_at,
            "age": (now - beat.beat_at).total_seconds(),
            "status": OK if (now - beat.beat_at).total_seconds() <= stale else FAIL,
        }
        for beat in WorkerHeartbeat.objects.order_by("-beat_at")[:5]
    ]


@reader_required
def overview(request: HttpRequest) -> HttpResponse:
    """Render the overview page."""
    range_ = charts.range_of(request.GET.get("range"))
    try:
        figures = request_figures(range_.seconds)
        figures_error = ""
    except q.QueryError as error:
        logger.warning("request figures unavailable on the console: %s", error)
        figures, figures_error = [], "The metrics backend did not answer."
    firing = list(Alert.objects.filter(status=Alert.Status.FIRING).order_by("-starts_at")[:20])
    return render_page(
        request,
        "console/overview.html",
        "overview",
        {
            "health": _health(),
            "figures": figures,
            "figures_error": figures_error,
            "firing": [
                {"alert": alert, "status": SEVERITY_STATUS.get(alert.severity, NONE)}
                for alert in firing
            ],
            "slo": _slos(),
            "workers": _workers(),
            "release": {
                "version": settings.HELPDESK_VERSION,
                "environment": settings.HELPDESK_ENV,
                "started_at": datetime.fromtimestamp(_STARTED, tz=UTC),
            },
            "charts": ["overview.traffic", "overview.errors", "overview.latency"],
        },
    )
