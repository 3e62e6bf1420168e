"""Requests: which routes are busy, failing or slow? RED per route (rate, errors, duration)
sorted by the time spent serving each route, with a sparkline of its rate; requests slower
than SLOW_REQUEST_SECONDS per route; the mix of status codes.

Every figure is a question of the query layer over the chosen range: increases of the
request histogram's counters and sums, and its quantiles.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client.utils import floatToGoString

from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import reader_required
from helpdesk.monitoring.console.charts import REQUESTS, Chart, Series, register
from helpdesk.monitoring.console.views import FAIL, NONE, OK, WARN, render_page
from helpdesk.monitoring.history import query as q
from helpdesk.monitoring.metrics.instruments import DURATION_BUCKETS

logger = logging.getLogger(__name__)

ROUTE = "http_route"
CODE = "http_response_status_code"
# Routes shown in the table (busiest by time spent first); the rest are summed as "others".
MAX_ROUTES = 25
CODE_STATUS = {"2": OK, "3": OK, "4": WARN, "5": FAIL}

register(
    Chart(
        "requests.by_route",
        "Requests per second by route",
        "req/s",
        (Series("{http_route}", lambda w: q.rate(f"{REQUESTS}_count", w, by=[ROUTE])),),
        "One line per route (the busiest first).",
        max_lines=MAX_ROUTES,
    )
)
register(
    Chart(
        "requests.status",
        "Status codes",
        "req/s",
        (
            Series(
                "{http_response_status_code}", lambda w: q.rate(f"{REQUESTS}_count", w, by=[CODE])
            ),
        ),
        "Requests per second by HTTP status code.",
    )
)
register(
    Chart(
        "requests.latency_by_route",
        "p95 response time by route",
        "seconds",
        (Series("{http_route}", lambda w: q.quantile(0.95, REQUESTS, w, by=[ROUTE])),),
        "The 95th percentile per route (the eight busiest).",
        max_lines=8,
    )
)


def slow_bound() -> float:
    """Return the histogram bound used for "slow": SLOW_REQUEST_SECONDS, or the next bucket
    bound above it (a count above a bound is exact; between bounds it is not)."""
    slow = float(settings.SLOW_REQUEST_SECONDS)
    return next((bound for bound in DURATION_BUCKETS if bound >= slow), DURATION_BUCKETS[-1])


def _by_route(backend: q.Backend, expr: q.Expr) -> dict[str, float]:
    return {value.labels.get(ROUTE, ""): value.value for value in backend.instant(expr)}


def route_table(window: int, backend: q.Backend | None = None) -> list[dict[str, Any]]:
    """Return one row per route over ``window`` seconds, the most time spent first.

    Row: route, requests (count), rate (/s), errors (5xx count), error_ratio, p95 (s),
    seconds (time spent), share (of all time spent), slow (count above ``slow_bound``),
    status (ok/warn/fail by the error ratio and p95).
    """
    backend = backend or q.backend()
    count = f"{REQUESTS}_count"
    totals = _by_route(backend, q.increase(count, window, by=[ROUTE]))
    errors = _by_route(backend, q.increase(f'{count}{{{CODE}=~"5.."}}', window, by=[ROUTE]))
    seconds = _by_route(backend, q.increase(f"{REQUESTS}_sum", window, by=[ROUTE]))
    p95 = _by_route(backend, q.quantile(0.95, REQUESTS, window, by=[ROUTE]))
    # The bucket's le label as the exposition format writes it ("1.0").
    le = floatToGoString(slow_bound())
    fast = _by_route(backend, q.increase(f'{REQUESTS}_bucket{{le="{le}"}}', window, by=[ROUTE]))
    spent = sum(seconds.values()) or 0.0
    rows: list[dict[str, Any]] = []
    for route, total in totals.items():
        if total <= 0:
            continue
        ratio = errors.get(route, 0.0) / total
        latency = p95.get(route)
        slow = max(0.0, total - fast.get(route, total))
        status = (
            FAIL
            if ratio > 0.05
            else WARN
            if ratio > 0.01 or (latency or 0) > settings.SLOW_REQUEST_SECONDS
            else OK
        )
        rows.append(
            {
                "route": route or "(none)",
                "requests": total,
                "rate": total / window,
                "errors": errors.get(route, 0.0),
                "error_ratio": ratio,
                "p95": latency,
                "seconds": seconds.get(route, 0.0),
                "share": seconds.get(route, 0.0) / spent if spent else None,
                "slow": slow,
                "slow_share": slow / total,
                "status": status,
            }
        )
    rows.sort(key=lambda row: (-row["seconds"], row["route"]))
    return rows


def status_mix(window: int, backend: q.Backend | None = None) -> list[dict[str, Any]]:
    """Return the count and share of each status code over ``window``, by class then code."""
    backend = backend or q.backend()
    found = backend.instant(q.increase(f"{REQUESTS}_count", window, by=[CODE]))
    total = sum(value.value for value in found) or 0.0
    rows = []
    for value in sorted(found, key=lambda v: v.labels.get(CODE, "")):
        code = value.labels.get(CODE, "")
        if value.value <= 0:
            continue
        rows.append(
            {
                "code": code,
                "requests": value.value,
                "share": value.value / total if total else None,
                "status": CODE_STATUS.get(code[:1], NONE),
            }
        )
    return rows


@reader_required
def requests_page(request: HttpRequest) -> HttpResponse:
    """Render the Requests page."""
    range_ = charts.range_of(request.GET.get("range"))
    error = ""
    rows: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    try:
        backend = q.backend()
        rows = route_table(range_.seconds, backend)
        codes = status_mix(range_.seconds, backend)
    except q.QueryError as failure:
        logger.warning("request figures unavailable on the console: %s", failure)
        error = "The metrics backend did not answer."
    shown, others = rows[:MAX_ROUTES], rows[MAX_ROUTES:]
    slow = sorted((row for row in rows if row["slow"] > 0), key=lambda row: -row["slow"])
    return render_page(
        request,
        "console/requests.html",
        "requests",
        {
            "rows": shown,
            "others": len(others),
            "slow": slow,
            "slow_bound": slow_bound(),
            "codes": codes,
            "error": error,
        },
    )
