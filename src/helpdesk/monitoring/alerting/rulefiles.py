"""Render the Prometheus rule files of ``deploy/prometheus/rules/`` from the alert catalogue.

``render(overrides)`` returns file name -> YAML text: one file per catalogue group
(``catalogue.RULE_FILES``), and ``recording.yml`` with the recording rules below.
``helpdesk alert-rules`` writes them; a test checks that the committed files are exactly
what it writes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from helpdesk.monitoring.alerting import catalogue
from helpdesk.monitoring.slo import rules as slo_rules
from helpdesk.monitoring.slo import spec

logger = logging.getLogger(__name__)

HEADER = (
    "# Generated from src/helpdesk/monitoring/alerting/catalogue.py by `helpdesk alert-rules`:\n"
    "# edit the catalogue, not this file (docs/alerting.md).\n"
)

# Recording rules shared by the alerts and dashboards (level:metric:operations). Request
# counts are the `_count` of the OpenTelemetry duration histogram
# http_server_request_duration_seconds{http_request_method,http_route,http_response_status_code}.
_5XX = 'http_server_request_duration_seconds_count{http_response_status_code=~"5.."}'
RECORDING: dict[str, list[tuple[str, str]]] = {
    "helpdesk-http-recording": [
        (
            "job:http_server_requests:rate5m",
            "sum by (job) (rate(http_server_request_duration_seconds_count[5m]))",
        ),
        (
            "job_route:http_server_requests:rate5m",
            "sum by (job, http_route) (rate(http_server_request_duration_seconds_count[5m]))",
        ),
        (
            "job:http_server_requests:rate1h",
            "sum by (job) (rate(http_server_request_duration_seconds_count[1h]))",
        ),
        # `or ... * 0`: a job with traffic but no 5xx yet has 0, not "no data", on dashboards.
        (
            "job:http_server_requests_5xx:rate5m",
            f"sum by (job) (rate({_5XX}[5m]))\n  or\n"
            "sum by (job) (rate(http_server_request_duration_seconds_count[5m])) * 0",
        ),
        (
            "job_route:http_server_requests_5xx:rate5m",
            f"sum by (job, http_route) (rate({_5XX}[5m]))\n  or\n"
            "sum by (job, http_route) (rate(http_server_request_duration_seconds_count[5m])) * 0",
        ),
        # A ratio, not an absolute rate: 1 error/s is nothing at 1000 req/s and everything at 1.
        (
            "job:http_server_requests_5xx:ratio_rate5m",
            "job:http_server_requests_5xx:rate5m / job:http_server_requests:rate5m",
        ),
        (
            "job_route:http_server_requests_5xx:ratio_rate5m",
            "job_route:http_server_requests_5xx:rate5m / job_route:http_server_requests:rate5m",
        ),
        *(
            (
                f"{level}:http_server_request_duration_seconds:p{q}_rate5m",
                f"histogram_quantile(0.{q}, sum by ({by}, le) "
                "(rate(http_server_request_duration_seconds_bucket[5m])))",
            )
            for level, by in (("job", "job"), ("job_route", "job, http_route"))
            for q in (95, 99)
        ),
    ],
    "helpdesk-node-recording": [
        (
            "instance:node_cpu_utilisation:ratio_rate5m",
            '1 - avg by (job, instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
        ),
        (
            "instance:node_memory_utilisation:ratio",
            "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
        ),
    ],
}


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line expressions, so the files read like hand-written ones."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(comment: str, document: dict[str, Any]) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1000)
    lines = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    return HEADER + lines + body


def render(overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, str]:
    """Return every rule file's name and text."""
    files = {}
    groups = catalogue.prometheus_groups(overrides)
    for stem, comment in catalogue.RULE_FILES.items():
        files[f"{stem}.yml"] = _dump(comment, {"groups": groups.pop(stem, [])})
    if groups:
        raise ValueError(f"alerts in groups without a rule file: {sorted(groups)}")
    recording = [
        {"name": name, "rules": [{"record": r, "expr": e} for r, e in rules]}
        for name, rules in RECORDING.items()
    ]
    files["recording.yml"] = _dump(
        "Recording rules shared by the alerts and dashboards.", {"groups": recording}
    )
    files["slo_recording.yml"] = _dump(
        "Per SLO of the SLO file (src/helpdesk/monitoring/slo/slos.yml, docs/slo.md): the\n"
        "share of bad events over each burn-rate window and the SLO's own window.",
        {"groups": slo_rules.recording_groups(spec.slos())},
    )
    return files


def render_tests(overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, str]:
    """Return the generated promtool test files (every burn-rate alert at its thresholds)."""
    burn_alert = catalogue.error_budget_burn()
    factors = catalogue.thresholds(burn_alert, overrides)
    tests = slo_rules.promtool_tests(
        spec.slos(), {k.removeprefix("factor_"): v for k, v in factors.items()}, "../rules/slo.yml"
    )
    comment = "promtool tests of ErrorBudgetBurn: each SLO's four burn-rate signals fire just\n"
    comment += "over their factor on both windows and stay silent just under on either."
    return {"slo_test.yml": _dump(comment, tests)}


# ---- documentation ------------------------------------------------------------------------
# docs/alerting.md's alert table and each runbook's "Detection" section are generated too, so
# the pages name the same thresholds as the rules. Each sits between these two markers.
BEGIN = "<!-- generated by `helpdesk alert-rules` from the alert catalogue: edit the catalogue -->"
END = "<!-- end of generated part -->"


def _paths(alert: catalogue.AlertDef) -> str:
    paths = alert.paths
    if paths == {"prometheus", "embedded"}:
        return "both"
    only = "Prometheus" if paths == {"prometheus"} else "embedded"
    return f"{only} only: {alert.only}"


def _values(alert: catalogue.AlertDef, values: Mapping[str, float]) -> str:
    keys = [f"`{key}` = {catalogue.render('{' + key + '}', values)}" for key in alert.thresholds]
    return ", ".join(keys) or "none"


def alert_table() -> str:
    """Return the table of every alert for docs/alerting.md (defaults, no overrides)."""
    rows = [
        "| Alert | Severity | Fires when | Paths | Thresholds (`ALERT_THRESHOLDS`) |",
        "|---|---|---|---|---|",
    ]
    for alert in catalogue.all_alerts():
        values = catalogue.thresholds(alert, {})
        meaning = catalogue.render(alert.meaning, values)
        rows.append(
            f"| [{alert.name}](runbooks/{alert.name}.md) | {alert.severity} | {meaning} | "
            f"{_paths(alert)} | {_values(alert, values)} |"
        )
    return "\n".join(rows)


def detection(alert: catalogue.AlertDef) -> str:
    """Return a runbook's "Detection" section: the signals of both paths and the thresholds."""
    values = catalogue.thresholds(alert, {})
    lines = [
        "## Detection",
        "",
        f"Severity **{alert.severity}**, service `{alert.service}`. "
        f"{catalogue.render(alert.meaning, values)[:1].upper()}"
        f"{catalogue.render(alert.meaning, values)[1:]}.",
        "",
    ]
    if alert.signals:
        lines += ["| Signal | Prometheus | Embedded evaluator | for |", "|---|---|---|---|"]
    for signal in alert.signals:
        expr = catalogue.render(signal.expr, values).replace("\n", " ").replace("|", "\\|")
        prometheus = f"`{' '.join(expr.split())}`" if signal.expr else f"no: {signal.only}"
        embedded = (
            f"`{signal.source.rsplit('.', 1)[-1]}`"
            if signal.source
            else (f"no: {signal.only}" if signal.expr else "-")
        )
        name = signal.name or alert.name
        lines.append(f"| {name} | {prometheus} | {embedded} | {signal.for_ or alert.for_} |")
    if alert.only:
        lines += ["", f"One path only: {alert.only}."]
    lines += ["", f"Thresholds: {_values(alert, values)}."]
    if alert.thresholds:
        key = next(iter(alert.thresholds))
        lines.append(
            f"Override them with `ALERT_THRESHOLDS={alert.name}.{key}=…` (both paths; "
            "[how](../alerting.md#thresholds))."
        )
    return "\n".join(lines)


def splice(text: str, block: str, before: str) -> str:
    """Replace the generated block of ``text``, or insert it before the heading ``before``."""
    generated = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + generated + rest.split(END, 1)[1]
    if before not in text:
        raise ValueError(f"no {before!r} to put the generated part before")
    head, rest = text.split(before, 1)
    return f"{head}{generated}\n\n{before}{rest}"


def render_docs(root: Path) -> dict[Path, str]:
    """Return docs/alerting.md and every runbook with their generated parts up to date."""
    docs = root / "docs"
    pages = {}
    page = docs / "alerting.md"
    pages[page] = splice(page.read_text(), alert_table(), "### Recording rules")
    for alert in catalogue.all_alerts():
        runbook = docs / "runbooks" / f"{alert.name}.md"
        if runbook.is_file():
            pages[runbook] = splice(runbook.read_text(), detection(alert), "## Meaning")
    return pages
