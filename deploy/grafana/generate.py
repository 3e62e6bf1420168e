"""Generate the Grafana dashboards in deploy/grafana/dashboards/ (docs/dashboards.md).

    .venv/bin/python deploy/grafana/generate.py           # write the JSON files
    .venv/bin/python deploy/grafana/generate.py --check   # exit 1 when a file would change

Built with grafana-foundation-sdk (the 11.1 flavour, as the Grafana image in
docker-compose.monitoring.yml). Every dashboard has a fixed uid, the ``${datasource}``
variable (a Prometheus data source, the provisioned one by default) and panels whose colours
mean the same everywhere: green ok, orange warn, red fail. Rates use ``$__rate_interval``.
The SLO dashboard reads the SLO recording rules of deploy/prometheus/rules/slo_recording.yml
and the objectives of the SLO file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus as prometheus_model

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "deploy" / "grafana" / "dashboards"
SLO_FILE = ROOT / "src" / "helpdesk" / "monitoring" / "slo" / "slos.yml"
DATASOURCE_UID = "helpdesk-prometheus"  # provisioning/datasources/prometheus.yml
DS = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
HTTP = "http_server_request_duration_seconds"
FIVE_XX = 'http_response_status_code=~"5.."'
OK, WARN, FAIL = "green", "orange", "red"


def _query(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Any:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend:
        query = query.legend_format(legend)
    return query.instant() if instant else query.range()


def _thresholds(warn: float | None, fail: float | None) -> db.ThresholdsConfig:
    steps = [model.Threshold(value=None, color=OK)]
    if warn is not None:
        steps.append(model.Threshold(value=warn, color=WARN))
    if fail is not None:
        steps.append(model.Threshold(value=fail, color=FAIL))
    return db.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


def chart(
    title: str,
    queries: list[tuple[str, str]],
    unit: str = "short",
    description: str = "",
    *,
    warn: float | None = None,
    fail: float | None = None,
    width: int = 12,
) -> timeseries.Panel:
    """Return a time series panel of ``(expr, legend)`` queries."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(width)
        .height(8)
        .thresholds(_thresholds(warn, fail))
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def single(
    title: str,
    expr: str,
    unit: str = "short",
    description: str = "",
    *,
    warn: float | None = None,
    fail: float | None = None,
    width: int = 6,
) -> stat.Panel:
    """Return a stat panel of one query, coloured by its thresholds."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(width)
        .height(5)
        .thresholds(_thresholds(warn, fail))
        .with_target(_query(expr))
    )


def listing(title: str, expr: str, legend: str, unit: str = "short", width: int = 12) -> Any:
    """Return a table panel of one instant query (the latest value per series)."""
    return (
        table.Panel()
        .title(title)
        .datasource(DS)
        .unit(unit)
        .span(width)
        .height(8)
        .with_target(
            _query(expr, legend, instant=True).format(prometheus_model.PromQueryFormat.TABLE)
        )
    )


def board(uid: str, title: str, description: str, tags: list[str], panels: list[Any]) -> Any:
    """Return a dashboard with the datasource variable and ``panels`` laid out in order."""
    builder = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["helpdesk", *tags])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .with_variable(
            db.DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .current(model.VariableOption(text="Prometheus", value=DATASOURCE_UID))
        )
    )
    for panel in panels:
        builder = builder.with_panel(panel)
    return builder.build()


def _rate(selector: str, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({selector}[{RATE}]))"


def _ratio(bad: str, total: str, by: str = "") -> str:
    """``bad / total`` that reads 0 (not nothing) while there are no bad events."""
    return f"({_rate(bad, by)} or {_rate(total, by)} * 0) / {_rate(total, by)}"


def _quantile(q: float, histogram: str, by: str = "", where: str = "") -> str:
    labels = f"le, {by}" if by else "le"
    selector = f"{histogram}_bucket{{{where}}}" if where else f"{histogram}_bucket"
    return f"histogram_quantile({q:g}, {_rate(selector, labels)})"


def service_overview() -> Any:
    errors = _ratio(f"{HTTP}_count{{{FIVE_XX}}}", f"{HTTP}_count")
    return board(
        "helpdesk-service-overview",
        "Helpdesk / Service overview",
        "RED at a glance: request rate by route, latency quantiles from the histogram, the "
        "error ratio, and the PostgreSQL connections behind them.",
        ["red"],
        [
            single("Requests per second", _rate(f"{HTTP}_count"), "reqps"),
            single("Error ratio (5xx)", errors, "percentunit", warn=0.01, fail=0.05),
            single("p95 latency", _quantile(0.95, HTTP), "s", warn=0.5, fail=2),
            single("In flight", "sum(http_server_active_requests)", "short"),
            chart(
                "Request rate by route",
                [(_rate(f"{HTTP}_count", "http_route"), "{{http_route}}")],
                "reqps",
            ),
            chart(
                "Latency p95 / p99",
                [(_quantile(0.95, HTTP), "p95"), (_quantile(0.99, HTTP), "p99")],
                "s",
                "From the request duration histogram; over 500 ms is a warning, 2 s a failure.",
                warn=0.5,
                fail=2,
            ),
            chart(
                "Error ratio by route (5xx / all)",
                [
                    (
                        _ratio(f"{HTTP}_count{{{FIVE_XX}}}", f"{HTTP}_count", "http_route"),
                        "{{http_route}}",
                    )
                ],
                "percentunit",
                "A share of requests, not an absolute rate: 1 % warns, 5 % fails.",
                warn=0.01,
                fail=0.05,
            ),
            chart(
                "PostgreSQL connections",
                [
                    ("sum by (state) (helpdesk_db_connections)", "{{state}}"),
                    ("max(helpdesk_db_max_connections)", "max_connections"),
                ],
                "short",
            ),
            chart(
                "Status codes",
                [
                    (
                        _rate(f"{HTTP}_count", "http_response_status_code"),
                        "{{http_response_status_code}}",
                    )
                ],
                "reqps",
            ),
            chart(
                "p95 latency by route",
                [(_quantile(0.95, HTTP, "http_route"), "{{http_route}}")],
                "s",
                warn=0.5,
                fail=2,
            ),
        ],
    )


def _objectives() -> list[tuple[str, float, str]]:
    data = yaml.safe_load(SLO_FILE.read_text())
    return [(s["name"], float(s["objective"]), s["window"]) for s in data["slos"]]


def slo_budget() -> Any:
    budgets = " or ".join(
        f'(1 - slo:sli_error:ratio_rate{window}{{slo="{name}"}} / {1 - objective:.6g})'
        for name, objective, window in _objectives()
    )
    burns = " or ".join(
        f'(slo:sli_error:ratio_rate1h{{slo="{name}"}} / {1 - objective:.6g})'
        for name, objective, _ in _objectives()
    )
    return board(
        "helpdesk-slo",
        "Helpdesk / SLOs and error budgets",
        "Each SLO of the SLO file: error budget left over its window, burn rate, and the bad "
        "share per burn-rate window (recording rules slo:sli_error:ratio_rate*).",
        ["slo"],
        [
            chart("Error budget remaining", [(budgets, "{{slo}}")], "percentunit", width=12),
            chart(
                "Burn rate (1 h)",
                [(burns, "{{slo}}")],
                "short",
                "1 spends the budget exactly over the SLO's window; 14.4 pages.",
                warn=6,
                fail=14.4,
            ),
            chart(
                "Bad share, 5 m and 1 h",
                [
                    ("slo:sli_error:ratio_rate5m", "{{slo}} 5m"),
                    ("slo:sli_error:ratio_rate1h", "{{slo}} 1h"),
                ],
                "percentunit",
                width=24,
            ),
        ],
    )


def database() -> Any:
    return board(
        "helpdesk-database",
        "Helpdesk / Database",
        "The application database: connections, slow and waiting work, size, and the "
        "client-side query timings.",
        ["database"],
        [
            single(
                "Connection use",
                "max(helpdesk_db_connection_utilisation_ratio)",
                "percentunit",
                warn=0.7,
                fail=0.9,
            ),
            single("Long-running queries", "max(helpdesk_db_long_running_queries)", warn=1, fail=5),
            single(
                "Sessions waiting on locks",
                "max(helpdesk_db_lock_waiting_sessions)",
                warn=1,
                fail=5,
            ),
            single("Database size", "max(helpdesk_db_size_bytes)", "bytes"),
            chart(
                "Query duration p95 / p99 (client side)",
                [
                    (_quantile(0.95, "db_client_operation_duration_seconds"), "p95"),
                    (_quantile(0.99, "db_client_operation_duration_seconds"), "p99"),
                ],
                "s",
            ),
            chart(
                "Queries per request p95",
                [(_quantile(0.95, "db_client_queries_per_request"), "p95")],
                "short",
                "N+1 queries show up here.",
            ),
            chart(
                "Connections by state", [("sum by (state) (helpdesk_db_connections)", "{{state}}")]
            ),
            chart(
                "Cache hit ratio (shared buffers)",
                [("max(helpdesk_db_cache_hit_ratio)", "hit ratio")],
                "percentunit",
            ),
            chart("Dead tuples", [("max(helpdesk_db_dead_tuples)", "dead tuples")]),
            listing(
                "Largest tables",
                'topk(10, max by (table) (helpdesk_db_table_size_bytes{part="total"}))',
                "{{table}}",
                "bytes",
            ),
        ],
    )


def system() -> Any:
    return board(
        "helpdesk-system",
        "Helpdesk / System",
        "USE for the app's resources, against the container's limits when there are any.",
        ["system"],
        [
            single(
                "CPU",
                "max(helpdesk_system_cpu_utilisation_ratio)",
                "percentunit",
                warn=0.7,
                fail=0.8,
            ),
            single(
                "Memory",
                "max(helpdesk_system_memory_utilisation_ratio)",
                "percentunit",
                warn=0.75,
                fail=0.85,
            ),
            single(
                "Fullest disk",
                "max(helpdesk_system_disk_utilisation_ratio)",
                "percentunit",
                warn=0.8,
                fail=0.9,
            ),
            single("Load (1 m)", 'max(helpdesk_system_load_average{period="1m"})'),
            chart(
                "CPU and memory",
                [
                    ("max by (source) (helpdesk_system_cpu_utilisation_ratio)", "cpu ({{source}})"),
                    (
                        "max by (source) (helpdesk_system_memory_utilisation_ratio)",
                        "memory ({{source}})",
                    ),
                ],
                "percentunit",
                warn=0.7,
                fail=0.85,
            ),
            chart(
                "Disk use by path",
                [("max by (path) (helpdesk_system_disk_utilisation_ratio)", "{{path}}")],
                "percentunit",
                warn=0.8,
                fail=0.9,
            ),
            chart(
                "Network",
                [
                    (_rate("helpdesk_system_network_received_bytes_total"), "received"),
                    (_rate("helpdesk_system_network_transmitted_bytes_total"), "sent"),
                ],
                "Bps",
            ),
            chart(
                "App process",
                [
                    ("max(helpdesk_system_process_resident_memory_bytes)", "resident memory"),
                ],
                "bytes",
            ),
        ],
    )


def business() -> Any:
    return board(
        "helpdesk-business",
        "Helpdesk / Business",
        "Tickets: backlog by status, flow, response and resolution times, SLA breaches.",
        ["business"],
        [
            single("Open tickets", 'sum(helpdesk_tickets{status!~"resolved|closed"})'),
            single(
                "Open tickets past SLA",
                'sum(helpdesk_tickets_sla_breached{state="open"})',
                warn=1,
                fail=10,
            ),
            single("Active users (15 m)", "sum(helpdesk_users_active)"),
            single(
                "First response p90",
                _quantile(0.9, "helpdesk_ticket_first_response_seconds"),
                "s",
            ),
            chart("Tickets by status", [("sum by (status) (helpdesk_tickets)", "{{status}}")]),
            chart(
                "Created and resolved per hour",
                [
                    ("sum(increase(helpdesk_tickets_created_total[1h]))", "created"),
                    ("sum(increase(helpdesk_tickets_resolved_total[1h]))", "resolved"),
                ],
            ),
            listing(
                "Tickets by organization",
                "sum by (organization) (helpdesk_tickets)",
                "{{organization}}",
            ),
            chart(
                "Resolution time p50 / p90",
                [
                    (_quantile(0.5, "helpdesk_ticket_resolution_seconds"), "p50"),
                    (_quantile(0.9, "helpdesk_ticket_resolution_seconds"), "p90"),
                ],
                "s",
            ),
        ],
    )


def security() -> Any:
    return board(
        "helpdesk-security",
        "Helpdesk / Security",
        "Security events by OWASP logging-vocabulary name, lockouts, TLS expiry.",
        ["security"],
        [
            single("Lockouts now", "sum(helpdesk_security_lockouts)", warn=1, fail=10),
            single(
                "Failed logins per minute",
                '60 * sum(rate(helpdesk_security_events_total{type="authn_login_fail"}'
                f"[{RATE}])) or vector(0)",
                warn=5,
                fail=30,
            ),
            chart(
                "Security events by type",
                [(_rate("helpdesk_security_events_total", "type"), "{{type}}")],
                "ops",
            ),
            chart(
                "Lockouts by scope", [("sum by (scope) (helpdesk_security_lockouts)", "{{scope}}")]
            ),
            chart(
                "Rate-limited and refused browser reports",
                [(_rate("browser_reports_rejected_total", "reason"), "{{reason}}")],
                "ops",
            ),
        ],
    )


def browser() -> Any:
    vitals = "browser_web_vital_seconds"
    return board(
        "helpdesk-browser",
        "Helpdesk / Browser",
        "Real users' Web Vitals (p75, as web.dev judges them) and page loads by route.",
        ["browser"],
        [
            chart(
                "LCP p75 by route",
                [(_quantile(0.75, vitals, "route", 'metric="LCP"'), "{{route}}")],
                "s",
                warn=2.5,
                fail=4,
            ),
            chart(
                "Page load p75 by phase",
                [(_quantile(0.75, "browser_page_load_seconds", "phase"), "{{phase}}")],
                "s",
            ),
            chart(
                "Reports per second by route",
                [(_rate(f"{vitals}_count", "route"), "{{route}}")],
                "ops",
            ),
            chart(
                "CLS p75 by route",
                [(_quantile(0.75, "browser_web_vital_cls", "route"), "{{route}}")],
                "short",
                warn=0.1,
                fail=0.25,
            ),
        ],
    )


def alerts() -> Any:
    return board(
        "helpdesk-alerts",
        "Helpdesk / Alerts and delivery",
        "What is firing, and whether notifications leave: the outbox, dead letters, disabled "
        "channels, the worker's heartbeat.",
        ["alerting"],
        [
            single(
                "Firing (critical)",
                'sum(helpdesk_alerts_firing{severity="critical"}) or vector(0)',
                fail=1,
            ),
            single(
                "Oldest due notification",
                "max(helpdesk_alert_outbox_oldest_pending_age_seconds)",
                "s",
                warn=60,
                fail=300,
            ),
            single("Disabled channels", "max(helpdesk_alert_channels_disabled)", warn=1),
            single(
                "Worker heartbeat age",
                "max(helpdesk_worker_heartbeat_age_seconds)",
                "s",
                warn=30,
                fail=60,
            ),
            chart(
                "Firing alerts by severity",
                [("sum by (severity) (helpdesk_alerts_firing)", "{{severity}}")],
            ),
            chart(
                "Outbox by status",
                [("sum by (status) (helpdesk_alert_outbox_notifications)", "{{status}}")],
            ),
            chart(
                "Metrics collectors up",
                [("min by (collector) (helpdesk_metrics_collector_up)", "{{collector}}")],
                description="0 means the collector failed in that scrape (see the app's log).",
            ),
            chart(
                "Embedded history: series stored / limit",
                [
                    ("max(helpdesk_history_series)", "stored"),
                    ("max(helpdesk_history_series_limit)", "limit"),
                ],
            ),
        ],
    )


DASHBOARDS = {
    "service-overview": service_overview,
    "slo": slo_budget,
    "database": database,
    "system": system,
    "business": business,
    "security": security,
    "browser": browser,
    "alerts": alerts,
}


def render() -> dict[str, str]:
    """Return file name -> JSON text of every dashboard."""
    return {
        f"{name}.json": json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def expressions(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (panel title, PromQL) of every query of a dashboard's JSON."""
    for panel in data.get("panels", []):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 when a file would change.")
    args = parser.parse_args(argv)
    changed = []
    for name, text in render().items():
        path = OUT / name
        if not path.exists() or path.read_text() != text:
            changed.append(name)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if args.check and changed:
        print(f"out of date: {', '.join(changed)} (run deploy/grafana/generate.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
