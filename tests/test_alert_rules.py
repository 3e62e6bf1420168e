"""Prometheus rules under deploy/prometheus/: promtool's checks and unit tests, our conventions,
and a guard that every metric a rule reads is one the app or a configured exporter produces.

promtool is the Debian package's (`prometheus`); without it the promtool tests skip, and fail
under HELPDESK_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.engines import prometheus
from tests.services import free_port, require_binary, wait_until

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
RUNBOOKS = ROOT / "docs" / "runbooks"

# Alerts the deployment must have; a rule file losing one fails here, not in production.
REQUIRED_ALERTS = {
    "HighErrorRate",
    "HighResponseTime",
    "DatabaseDown",
    "HighCPUUsage",
    "HighMemoryUsage",
    "TargetDown",
    "RedisDown",
    "PostgresTooManyConnections",
    "DiskSpaceLow",
    "DiskWillFillIn24h",
    "HealthCheckFailing",
    "SlowQueries",
    "MetricsScrapeSlow",
    "BruteForceAttack",
    "RequestRateSpike",
    "SLABreachRate",
    "WorkerHeartbeatMissing",
    "NotificationDeliveryFailing",
    "TLSCertificateExpiringSoon",
    "TLSCertificateExpiryCritical",
    "WebVitalsPoor",
}
# Metrics from exporters the deployment runs (deploy/docker-compose.monitoring.yml) and
# Prometheus's own per-target series: documented by those projects, not scraped from the app.
EXPORTER_PREFIXES = ("node_", "pg_", "redis_", "scrape_")
EXPORTER_NAMES = {"up"}
# Served by the database inspector only when the database is PostgreSQL.
POSTGRESQL_ONLY = {"helpdesk_db_connection_utilisation_ratio", "helpdesk_db_long_running_queries"}
# Served by the security package (helpdesk.monitoring.security) once it is part of the app.
SECURITY_PREFIXES = ("helpdesk_security_", "helpdesk_tls_")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for g in load(path)["groups"] for rule in g["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, check=False, cwd=PROMETHEUS
    )


# ---- promtool ----------------------------------------------------------------------------


def test_it_passes_promtool_check_rules_with_every_lint() -> None:
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_passes_the_promtool_rule_unit_tests() -> None:
    result = promtool("test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES)


def test_it_would_notice_a_failing_unit_test(tmp_path: Path) -> None:
    broken = tmp_path / "rules"
    shutil.copytree(PROMETHEUS / "rules", broken)
    http = broken / "http.yml"
    http.write_text(http.read_text().replace("ratio_rate5m > 0.05", "ratio_rate5m > 0.5"))
    tests = tmp_path / "tests"
    shutil.copytree(PROMETHEUS / "tests", tests)
    result = promtool("test", "rules", str(tests / "http_test.yml"))
    assert result.returncode != 0
    assert "HighErrorRate" in result.stdout + result.stderr


def laid_out_config(tmp_path: Path) -> Path:
    """Copy prometheus.yml and its rules into tmp_path, as compose mounts them, with a token."""
    shutil.copytree(PROMETHEUS / "rules", tmp_path / "rules")
    token = tmp_path / "monitoring_token"
    token.write_text("t" * 40)
    config = tmp_path / "prometheus.yml"
    text = (PROMETHEUS / "prometheus.yml").read_text()
    config.write_text(text.replace("/run/secrets/monitoring_token", str(token)))
    return config


def test_it_passes_promtool_check_config_with_the_rules(tmp_path: Path) -> None:
    # The full check opens the token file and every rule file.
    config = laid_out_config(tmp_path)
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def _rules_loaded(url: str, expected: int) -> list[dict[str, Any]] | None:
    """Return the rules a Prometheus serves once each has been evaluated, else None."""
    try:
        groups = requests.get(f"{url}/api/v1/rules", timeout=2).json()["data"]["groups"]
    except (requests.RequestException, ValueError, KeyError):
        return None
    served = [rule for group in groups for rule in group["rules"]]
    evaluated = [rule for rule in served if not rule["lastEvaluation"].startswith("0001")]
    return served if len(evaluated) == expected else None


def test_it_loads_and_evaluates_every_rule_in_a_real_prometheus(tmp_path: Path) -> None:
    config = laid_out_config(tmp_path)
    with prometheus(config, tmp_path / "data", free_port(18750, 18799), timeout=60) as url:
        served = wait_until(
            lambda: _rules_loaded(url, len(rules())),
            timeout=60,
            interval=0.5,
            message="Prometheus did not evaluate every rule",
        )
    unhealthy = [(rule["name"], rule.get("lastError")) for rule in served if rule["health"] != "ok"]
    assert unhealthy == []
    names = {rule["name"] for rule in served}
    assert names == {rule.get("alert") or rule["record"] for rule in rules()}


def test_it_sends_alerts_to_alertmanager_and_loads_every_rule_file() -> None:
    config = load(PROMETHEUS / "prometheus.yml")
    assert config["rule_files"] == ["rules/*.yml"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


# ---- conventions -------------------------------------------------------------------------


def test_it_has_every_required_alert() -> None:
    missing = REQUIRED_ALERTS - {rule["alert"] for rule in alerts()}
    assert not missing, f"alerts missing from deploy/prometheus/rules: {sorted(missing)}"


def test_it_gives_every_alert_for_severity_service_and_annotations() -> None:
    for rule in alerts():
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["labels"]["service"], name
        annotations = rule["annotations"]
        assert annotations["summary"], name
        assert "$value" in annotations["description"], f"{name}: description without the value"
        assert annotations["runbook_url"] == f"docs/runbooks/{name}.md", name


def test_it_has_a_runbook_for_every_alert_and_builtin_rule() -> None:
    from helpdesk.monitoring.alerting.catalogue import all_alerts

    names = {rule["alert"] for rule in alerts()} | {alert.name for alert in all_alerts()}
    for name in sorted(names):
        runbook = RUNBOOKS / f"{name}.md"
        assert runbook.is_file(), f"no runbook {runbook.relative_to(ROOT)}"
        text = runbook.read_text()
        for section in ("## Meaning", "## Confirm", "## Fix", "## Escalate"):
            assert section in text, f"{runbook.name} lacks {section}"


def test_it_lists_every_alert_in_the_docs() -> None:
    docs = (ROOT / "docs" / "alerting.md").read_text()
    for name in {rule["alert"] for rule in alerts()}:
        assert f"[{name}](runbooks/{name}.md)" in docs, name


def seconds(duration: str) -> int:
    """Return the seconds of a Prometheus duration such as ``1d2h3m4s``."""
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match and duration, duration
    days, hours, minutes, secs = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + secs


def test_it_unit_tests_every_alert_firing_quiet_and_at_its_for_boundary() -> None:
    firing: dict[str, int] = defaultdict(int)
    quiet: dict[str, int] = defaultdict(int)
    boundary: set[str] = set()
    for path in TEST_FILES:
        data = load(path)
        step = seconds(data.get("evaluation_interval", "1m"))
        for case in data["tests"]:
            checks = case.get("alert_rule_test", [])
            for check in checks:
                counts = firing if check.get("exp_alerts") else quiet
                counts[check["alertname"]] += 1
            # The last evaluation still pending and the next one firing, in one case.
            boundary.update(
                before["alertname"]
                for before in checks
                for after in checks
                if before["alertname"] == after["alertname"]
                and not before.get("exp_alerts")
                and after.get("exp_alerts")
                and seconds(after["eval_time"]) - seconds(before["eval_time"]) == step
            )
    for name in {rule["alert"] for rule in alerts()}:
        assert firing[name] >= 1, f"{name} has no firing case"
        assert quiet[name] >= 1, f"{name} has no quiet case"
        assert name in boundary, f"{name} has no `for` boundary case"


# ---- metric names ------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "offset", "bool"}
_KEYWORDS |= {"group_left", "group_right", "inf", "nan"}


def selected_metrics(expr: str) -> set[str]:
    """Return the metric names an expression selects (functions and labels left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, regexes
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and subqueries
    expr = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr
    )  # label lists
    names = set()
    for match in _IDENTIFIER.finditer(expr):
        word = match.group()
        before = expr[match.start() - 1] if match.start() else " "
        after = expr[match.end() :].lstrip()[:1]
        if word.lower() in _KEYWORDS or after == "(" or before.isdigit() or before == ".":
            continue
        names.add(word)
    return names


def test_it_extracts_metric_names_from_expressions() -> None:
    expr = (
        "sum by (job) (rate(http_server_request_duration_seconds_count"
        '{http_response_status_code=~"5.."}[5m]))'
        " / on (job) group_left max by (job) (pg_settings_max_connections) > 0.8"
        ' and absent(up{job="x"}) and x:y:z offset 1d > 1e9 * 24'
    )
    assert selected_metrics(expr) == {
        "http_server_request_duration_seconds_count",
        "pg_settings_max_connections",
        "up",
        "x:y:z",
    }


def rule_metrics() -> set[str]:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    names = set().union(*(selected_metrics(rule["expr"]) for rule in rules()))
    return names - recorded


def scraped_names(text: str) -> set[str]:
    """Return every series name a /metrics body can hold, samples or not yet."""
    suffixes = {
        "counter": ["_total", "_created"],
        "histogram": ["_bucket", "_count", "_sum", "_created"],
        "summary": ["_count", "_sum", "_created"],
    }
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
        names.update(sample.name for sample in family.samples)
    return names


def _produce_traffic(client: Client, alice: Any) -> None:
    """Make the app serve requests, fail a login and beat the worker heartbeat once."""
    from helpdesk.monitoring.alerting.worker import Worker
    from tests.conftest import client_for

    client_for(alice).get("/api/v1/tickets/")
    client.get("/api/v1/no-such-page/")
    client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "wrong password"},
        content_type="application/json",
    )
    Worker([]).heartbeat()


@pytest.mark.django_db
def test_it_references_only_metrics_the_app_or_its_exporters_produce(
    settings: Any, alice: Any
) -> None:
    try:
        resolve("/metrics")
    except Resolver404:
        pytest.skip("no /metrics route yet")
    token = "m" * 40
    settings.METRICS_TOKEN = token
    settings.MONITORING_API_TOKEN = token
    client = Client()
    _produce_traffic(client, alice)
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    produced = scraped_names(response.content.decode())
    expected = {
        name
        for name in rule_metrics()
        if name not in EXPORTER_NAMES and not name.startswith(EXPORTER_PREFIXES)
    }
    if connection.vendor != "postgresql":
        expected -= POSTGRESQL_ONLY
    if importlib.util.find_spec("helpdesk.monitoring.security") is None:
        expected = {name for name in expected if not name.startswith(SECURITY_PREFIXES)}
    missing = sorted(expected - produced)
    assert not missing, f"rules read metrics the app's /metrics does not serve: {missing}"


# Prefixes of the scrape-time collectors already listed in HELPDESK_METRICS_COLLECTORS.
COLLECTOR_PREFIXES = ("helpdesk_db_", "helpdesk_system_", "helpdesk_alert", "helpdesk_worker_")


@pytest.mark.django_db
def test_it_references_only_metrics_the_registered_collectors_serve() -> None:
    """The part of the /metrics guard that needs no route: names of the app's collectors."""
    from helpdesk.monitoring.alerting.worker import Worker

    Worker([]).heartbeat()
    registry = CollectorRegistry()
    for path in django_settings.HELPDESK_METRICS_COLLECTORS:
        registry.register(import_string(path)())
    produced = scraped_names(generate_latest(registry).decode())
    expected = {name for name in rule_metrics() if name.startswith(COLLECTOR_PREFIXES)}
    assert expected, "no rule reads a collector metric: the prefixes are out of date"
    if connection.vendor != "postgresql":
        expected -= POSTGRESQL_ONLY
    missing = sorted(expected - produced)
    assert not missing, f"rules read metrics the collectors do not serve: {missing}"


def test_it_leaves_no_reference_to_the_moved_delivery_page() -> None:
    """docs/alerting-delivery.md became part of docs/alerting.md."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    stale = [
        str(page.relative_to(ROOT)) for page in pages if "alerting-delivery" in page.read_text()
    ]
    assert stale == [], f"pages still pointing at docs/alerting-delivery.md: {stale}"
