"""Database: is the database keeping up? Connections against the limit, long-running queries
and lock waits now, the slowest statements (pg_stat_statements), size and cache hit ratio,
from the database inspector (``helpdesk.monitoring.database.report``, cached for
DB_MONITOR_CACHE_SECONDS); the query time and connections over the range from the history."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse

from helpdesk.monitoring import database
from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import reader_required
from helpdesk.monitoring.console.charts import Chart, Series
from helpdesk.monitoring.console.views import FAIL, NONE, OK, WARN, render_page
from helpdesk.monitoring.history import query as q

logger = logging.getLogger(__name__)

DB_DURATION = "db_client_operation_duration_seconds"
# Connection use above these shares of max_connections warns / fails (PostgresTooManyConnections
# warns at 80 %).
CONNECTIONS_WARN, CONNECTIONS_FAIL = 0.8, 0.95
CACHE_HIT_WARN = 0.99

charts.register(
    Chart(
        "database.connections",
        "Connections by state",
        "count",
        (Series("{state}", lambda w: q.gauge("helpdesk_db_connections", by=["state"])),),
        "Client connections to the app's database (pg_stat_activity), by state.",
    )
)
charts.register(
    Chart(
        "database.query_time",
        "Query time",
        "seconds",
        tuple(charts.quantile_series(quantile, DB_DURATION) for quantile in (0.5, 0.95, 0.99)),
        "Quantiles of the app's database operation durations, all aliases.",
    )
)
charts.register(
    Chart(
        "database.queries",
        "Queries per second",
        "req/s",
        (Series("{db_alias}", lambda w: q.rate(f"{DB_DURATION}_count", w, by=["db_alias"])),),
        "Database operations the app ran, by connection alias.",
    )
)


def _section(report: dict[str, Any], name: str) -> dict[str, Any]:
    """Return a report section with ``ok`` (its figures are there) and ``problem`` (why not)."""
    section = report.get(name)
    if not isinstance(section, dict):
        return {"ok": False, "problem": ""}
    status = str(section.get("status", "ok"))
    return {**section, "ok": status == "ok", "problem": "" if status == "ok" else status}


def _level(value: float | None, warn: float, fail: float) -> str:
    if value is None:
        return NONE
    return FAIL if value >= fail else WARN if value >= warn else OK


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """Return the page's sections and headline figures from an inspector report."""
    connections = _section(report, "connections")
    long_running = _section(report, "long_running")
    locks = _section(report, "locks")
    cache = _section(report, "cache")
    ratio = connections.get("utilisation_ratio")
    hit = cache.get("hit_ratio")
    postgresql = report.get("vendor") == "postgresql"
    figures: list[dict[str, Any]] = []
    if postgresql:
        figures += [
            {
                "label": "Connections used",
                "value": ratio,
                "unit": "ratio",
                "status": _level(ratio, CONNECTIONS_WARN, CONNECTIONS_FAIL),
            },
            {
                "label": "Long-running queries",
                "value": len(long_running.get("queries", [])) if long_running["ok"] else None,
                "unit": "count",
                "status": NONE
                if not long_running["ok"]
                else WARN
                if long_running.get("queries") or long_running.get("transactions")
                else OK,
            },
            {
                "label": "Sessions waiting on locks",
                "value": locks.get("waiting_count"),
                "unit": "count",
                "status": NONE if not locks["ok"] else WARN if locks.get("waiting_count") else OK,
            },
            {
                "label": "Cache hit ratio",
                "value": hit,
                "unit": "ratio",
                "status": NONE if hit is None else OK if hit >= CACHE_HIT_WARN else WARN,
            },
        ]
    size = _section(report, "size")
    file = _section(report, "file")
    size_bytes = size.get("bytes") if size["ok"] else file.get("size_bytes")
    figures.append({"label": "Size", "value": size_bytes, "unit": "bytes", "status": NONE})
    if file["ok"]:
        figures.append(
            {"label": "Write-ahead log", "value": file.get("wal_bytes"), "unit": "bytes"}
        )
    tables = _section(report, "tables")
    figures.append(
        {"label": "Tables", "value": tables.get("count"), "unit": "count", "status": NONE}
    )
    for figure in figures:
        figure.setdefault("status", NONE)
    statements = _section(report, "statements")
    sections = [connections, long_running, locks, cache, statements]
    reachable = all(section.get("status") != "unreachable" for section in sections)
    return {
        "vendor": report.get("vendor", ""),
        "status": OK if reachable else FAIL,
        "figures": figures,
        "connections": connections,
        "long_running": long_running,
        "locks": locks,
        "statements": statements,
        "tables": tables,
        "file": file,
        "replication": _section(report, "replication"),
        "collected_at": report.get("collected_at", ""),
    }


@reader_required
def database_page(request: HttpRequest) -> HttpResponse:
    """Render the database page."""
    return render_page(
        request,
        "console/database.html",
        "database",
        {
            "db": summary(database.report()),
            "charts": ["database.connections", "database.query_time", "database.queries"],
        },
    )
