"""The console's charts: named sets of series, each a question of the one query layer.

A chart is registered once (``register(Chart(...))``) and drawn by any page that names it
(``{% chart "requests.rate" %}``); the browser fetches ``/api/v1/monitoring/console/charts/
<name>/?range=1h`` and draws the answer with uPlot, with a table of the same numbers beside
it. ``chart_data`` answers on one time grid for every series (``timestamps`` plus one list of
values per series, ``None`` where a series has no value), the shape uPlot takes as it is.

Every question goes through ``helpdesk.monitoring.history.query`` (embedded history, or
Prometheus with PROMETHEUS_URL): this module only chooses windows and steps and lays the
answers out; it computes no rate or quantile of its own.
"""

from __future__ import annotations

import logging
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from helpdesk.monitoring.history import query as q

logger = logging.getLogger(__name__)

MINUTE, HOUR = 60, 3600
REQUESTS = "http_server_request_duration_seconds"
# Most lines a chart returns unless it says otherwise (a "by route" series past this is cut,
# the largest kept).
MAX_LINES = 12


@dataclass(frozen=True)
class Range:
    """A time range of the picker: its length and the step (and rate window) of its charts."""

    key: str
    label: str
    seconds: int
    step: int


RANGES: dict[str, Range] = {
    r.key: r
    for r in (
        Range("15m", "15 minutes", 15 * MINUTE, MINUTE),
        Range("1h", "1 hour", HOUR, MINUTE),
        Range("6h", "6 hours", 6 * HOUR, MINUTE),
        Range("24h", "24 hours", 24 * HOUR, MINUTE),
        # Hour rollups beyond the minute retention: one point an hour.
        Range("7d", "7 days", 7 * 24 * HOUR, HOUR),
        Range("30d", "30 days", 30 * 24 * HOUR, HOUR),
    )
}
DEFAULT_RANGE = "1h"


def range_of(key: str | None) -> Range:
    """Return the range named ``key``, or the default for a missing or unknown one."""
    return RANGES.get(key or "", RANGES[DEFAULT_RANGE])


@dataclass(frozen=True)
class Series:
    """One question of a chart: ``expr(window)`` gives the expression for a rate window.

    ``legend`` names each returned line: plain text, or a format string of its labels
    (``"{http_route}"``) for a question answered per label. ``zero_when``: where this question
    has no value but ``zero_when`` has one above 0 (traffic, but no errors), the value is 0
    rather than missing, so "no errors" draws as 0 and not as a gap.
    """

    legend: str
    expr: Callable[[int], q.Expr]
    zero_when: Callable[[int], q.Expr] | None = None


@dataclass(frozen=True)
class Chart:
    """A chart: a unique name, a title, a unit (``req/s``, ``ratio``, ``seconds``, ``count``,
    ``bytes``) and its series."""

    name: str
    title: str
    unit: str
    series: tuple[Series, ...]
    description: str = ""
    max_lines: int = MAX_LINES


CHARTS: dict[str, Chart] = {}


def register(chart: Chart) -> Chart:
    """Add ``chart`` to the registry (a name is registered once)."""
    if chart.name in CHARTS:
        raise ValueError(f"chart {chart.name!r} is registered twice")
    CHARTS[chart.name] = chart
    return chart


def _legend(template: str, labels: dict[str, str]) -> str:
    if "{" not in template:
        return template
    try:
        return template.format_map({**{k: "" for k in _fields(template)}, **labels}) or "(none)"
    except (KeyError, ValueError):
        return template


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def grid(range_: Range, now: float | None = None) -> tuple[int, int, list[int]]:
    """Return (start, end, timestamps) of a range ending ``now``, aligned to its step."""
    now = time.time() if now is None else now
    end = int(now) // range_.step * range_.step
    start = end - range_.seconds
    return start, end, list(range(start + range_.step, end + 1, range_.step))


def chart_data(
    chart: Chart, range_: Range, *, backend: q.Backend | None = None, now: float | None = None
) -> dict[str, Any]:
    """Answer ``chart`` over ``range_``: every series on one grid, ready for uPlot.

    Raises ``q.QueryError`` when the backend cannot answer (Prometheus down, a bad selector).
    """
    backend = backend or q.backend()
    start, end, times = grid(range_, now)
    index = {t: i for i, t in enumerate(times)}
    window = max(range_.step, MINUTE)
    lines: list[dict[str, Any]] = []
    for series in chart.series:
        answered = backend.range(series.expr(window), start, end, range_.step)
        zero_at: set[int] = set()
        if series.zero_when is not None:
            for base in backend.range(series.zero_when(window), start, end, range_.step):
                zero_at.update(int(t) for t, v in base.points if v > 0)
        if not answered and zero_at:
            answered = [q.Line({}, [])]
        found: list[dict[str, Any]] = []
        for line in answered:
            values: list[float | None] = [None] * len(times)
            for t, v in line.points:
                slot = index.get(int(t) // range_.step * range_.step)
                if slot is not None:
                    values[slot] = v
            for t in zero_at:
                slot = index.get(t // range_.step * range_.step)
                if slot is not None and values[slot] is None:
                    values[slot] = 0.0
            found.append({"legend": _legend(series.legend, line.labels), "values": values})
        # Largest lines first when a per-label question returns more than a chart can show.
        found.sort(key=lambda line: -sum(v or 0.0 for v in line["values"]))
        lines.extend(found)
    return {
        "name": chart.name,
        "title": chart.title,
        "unit": chart.unit,
        "range": range_.key,
        "step": range_.step,
        "start": start,
        "end": end,
        "backend": backend.name,
        "timestamps": times,
        "series": lines[: chart.max_lines],
    }


def quantile_series(quantile: float, histogram: str, where: str = "") -> Series:
    """Return the series "p95" (for 0.95) of ``histogram``'s quantile."""
    return Series(
        f"p{quantile * 100:g}", lambda window: q.quantile(quantile, histogram, window, where=where)
    )


# -- the charts of the overview ----------------------------------------------------------------

register(
    Chart(
        "overview.traffic",
        "Requests per second",
        "req/s",
        (
            Series("all", lambda w: q.rate(f"{REQUESTS}_count", w)),
            Series(
                "4xx", lambda w: q.rate(f'{REQUESTS}_count{{http_response_status_code=~"4.."}}', w)
            ),
            Series(
                "5xx", lambda w: q.rate(f'{REQUESTS}_count{{http_response_status_code=~"5.."}}', w)
            ),
        ),
        "Requests the app answered (health probes, /metrics and static files left out).",
    )
)
register(
    Chart(
        "overview.errors",
        "Error ratio (5xx share)",
        "ratio",
        (
            Series(
                "5xx share",
                lambda w: q.ratio(
                    q.rate(f'{REQUESTS}_count{{http_response_status_code=~"5.."}}', w),
                    q.rate(f"{REQUESTS}_count", w),
                ),
                zero_when=lambda w: q.rate(f"{REQUESTS}_count", w),
            ),
        ),
        "Share of requests answered with a server error.",
    )
)
register(
    Chart(
        "overview.latency",
        "Response time",
        "seconds",
        tuple(quantile_series(quantile, REQUESTS) for quantile in (0.5, 0.95, 0.99)),
        "Quantiles of the request duration histogram (interpolated within buckets).",
    )
)
