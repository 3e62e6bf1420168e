"""The embedded SLO maths against a real Prometheus on the same synthetic traffic.

One registry holds the app's HTTP duration histogram. Prometheus (Debian's binary) scrapes it
every second and evaluates the generated rules/slo_recording.yml and rules/slo.yml (their
`for` shortened to 1 s); the worker's metrics-history sampler reads the same registry into
the history, which the embedded counts ask through the query layer (the traffic falls in one
minute of the history's clock, written as the worker writes minutes). After 2 000 requests,
3 % of them 500s, both reports must give the same error ratios and burn rates, and the same
ErrorBudgetBurn signals must fire in both paths.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry, Histogram, start_http_server

from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator
from helpdesk.monitoring.alerting.models import Alert
from helpdesk.monitoring.alerting.rules import default_rules
from helpdesk.monitoring.history.sampler import Sampler
from helpdesk.monitoring.slo.embedded import EmbeddedCounts
from helpdesk.monitoring.slo.prometheus import PrometheusCounts
from helpdesk.monitoring.slo.report import report
from helpdesk.monitoring.slo.spec import slos
from tests.engines import prometheus
from tests.services import free_port, require_binary, wait_until

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "rules"
COMPARED = ("availability", "error_rate", "latency")


def _config(tmp_path: Path, target: str) -> Path:
    (tmp_path / "rules").mkdir()
    for name in ("slo.yml", "slo_recording.yml"):
        text = (RULES / name).read_text()
        (tmp_path / "rules" / name).write_text(re.sub(r"for: \d+[smh]", "for: 1s", text))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules/*.yml"],
        "scrape_configs": [{"job_name": "helpdesk", "static_configs": [{"targets": [target]}]}],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def by_name(name: str) -> Any:
    return next(slo for slo in slos() if slo.name == name)


def _prometheus_firing(url: str) -> set[tuple[str, str]]:
    alerts = requests.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {
        (a["labels"]["slo"], a["labels"]["windows"])
        for a in alerts
        if a["labels"]["alertname"] == "ErrorBudgetBurn" and a["state"] == "firing"
    }


@pytest.mark.services
@pytest.mark.django_db
def test_it_computes_the_same_burn_rates_and_alerts_as_prometheus(
    tmp_path: Path, settings: Any
) -> None:
    require_binary("prometheus")
    registry = CollectorRegistry()
    histogram = Histogram(
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests.",
        ["http_request_method", "http_route", "http_response_status_code"],
        registry=registry,
        buckets=(0.1, 0.5, 1.0),
    )
    ok, failed = (
        histogram.labels("GET", "api/v1/tickets/", "200"),
        histogram.labels("GET", "api/v1/tickets/", "500"),
    )
    port = free_port(24550, 24599)
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    # The history's clock: the minute before the current one, so it is written by `now`.
    minute = [time.time() // 60 * 60 - 60]
    sampler = Sampler(registry.collect, clock=lambda: minute[0], owner="test")
    try:
        config = _config(tmp_path, f"127.0.0.1:{port}")
        with prometheus(config, tmp_path / "data", free_port(24500, 24549)) as url:
            counts = PrometheusCounts(url)

            def scraped() -> bool:
                up = requests.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=2)
                return up.json()["data"]["result"] != []

            wait_until(scraped, timeout=20, message="Prometheus did not scrape the target")
            sampler.sample()  # the baseline, at zero like Prometheus's first sample
            for _ in range(10):  # 200 requests a second, 3 % failing, 10 % slow
                for i in range(200):
                    (failed if i % 100 < 3 else ok).observe(0.8 if i % 10 == 0 else 0.05)
                time.sleep(1)
            minute[0] += 30
            sampler.sample()  # the traffic, in the history's minute
            minute[0] += 30
            sampler.sample()  # the next minute: the one with the traffic is written
            time.sleep(3)  # Prometheus scrapes the final counters
            wait_until(
                lambda: {("availability", "1h/5m")} <= _prometheus_firing(url),
                timeout=30,
                message="Prometheus's ErrorBudgetBurn did not fire",
            )
            time.sleep(2)  # every signal became true in the same evaluation: let them all fire
            now = time.time()
            from_prometheus = {s["name"]: s for s in report(counts, now=now)["slos"]}
            prometheus_firing = _prometheus_firing(url)
            # With PROMETHEUS_URL the embedded evaluator's counts ask Prometheus the same.
            settings.PROMETHEUS_URL = url
            good, total = EmbeddedCounts().counts(by_name("availability"), "1h", now)
            assert 1 - good / total == pytest.approx(0.03, rel=1e-3)
            settings.PROMETHEUS_URL = ""
    finally:
        server.shutdown()
    from_embedded = {s["name"]: s for s in report(EmbeddedCounts(), now=now)["slos"]}
    for name in COMPARED:
        for window in ("5m", "1h", "1d"):
            expected = from_prometheus[name]["burn_rates"][window]
            assert from_embedded[name]["burn_rates"][window] == pytest.approx(expected, rel=1e-3)
    # By hand: 3 % errors is 30x the 0.1 % budget; 10 % slow is 10x latency's 1 % budget.
    assert from_embedded["availability"]["burn_rates"]["1h"] == pytest.approx(30.0, rel=1e-3)
    assert from_embedded["error_rate"]["burn_rates"]["1h"] == pytest.approx(30.0, rel=1e-3)
    assert from_embedded["latency"]["burn_rates"]["1h"] == pytest.approx(10.0, rel=1e-3)

    settings.ALERT_THRESHOLDS = "ErrorBudgetBurn.for=0"  # as the shortened Prometheus rules
    evaluator = Evaluator(
        [r for r in default_rules() if r.name == "ErrorBudgetBurn"],
        DatabaseSink(),
        clock=lambda: now,
    )
    evaluator.evaluate()
    embedded_firing = {
        (a.labels["slo"], a.labels["windows"])
        for a in Alert.objects.filter(name="ErrorBudgetBurn", status="firing")
    }
    assert embedded_firing == prometheus_firing
    assert ("latency", "6h/30m") in embedded_firing  # 10x: over 6x, under 14.4x
    assert ("latency", "1h/5m") not in embedded_firing
