"""SLOs: the SLO file's validation, the budget and burn-rate maths against hand-computed figures,
the embedded counts (sampled request counters, first responses, probe runs), the report, its
command and API, and the embedded ErrorBudgetBurn alert."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from prometheus_client import CollectorRegistry, Histogram

from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator
from helpdesk.monitoring.alerting.models import Alert
from helpdesk.monitoring.alerting.rules import default_rules
from helpdesk.monitoring.history.models import Point, SamplerState, Series
from helpdesk.monitoring.history.sampler import rollup_hours, series_key
from helpdesk.monitoring.probes.models import ProbeRun
from helpdesk.monitoring.slo import burn
from helpdesk.monitoring.slo.embedded import EmbeddedCounts
from helpdesk.monitoring.slo.report import report, status
from helpdesk.monitoring.slo.spec import SHIPPED, SpecError, load, slos
from tests.conftest import client_for
from tests.metrics_history import Recorder

NOW = 1_767_600_000.0


def by_name(name: str) -> Any:
    return next(slo for slo in slos() if slo.name == name)


# ---- the SLO file ------------------------------------------------------------------------


def test_it_ships_the_specs_slos() -> None:
    shipped = {slo.name: (slo.objective, slo.window) for slo in load(SHIPPED)}
    assert shipped == {
        "availability": (0.999, "30d"),
        "latency": (0.99, "30d"),
        "error_rate": (0.999, "7d"),
        "first_response": (0.95, "30d"),
        "probe_availability": (0.999, "30d"),
    }


BAD = """\
slos:
  - name: availability
    objective: 99.9
    window: 30 days
    sli:
      prometheus:
        good: sum(rate(x[5m]))
        total: sum(rate(y[{window}]))
      embedded: magic
  - name: availability
    objective: 0.99
    window: 1d
    colour: blue
    sli:
      prometheus: {good: "a[{window}]", total: "b[{window}]"}
      embedded: probes
"""


def test_it_reports_every_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "slos.yml"
    path.write_text(BAD)
    with pytest.raises(SpecError) as raised:
        load(path)
    assert raised.value.errors == [
        f"{path}:3: `objective` must be a fraction in [0.5, 1)",
        f"{path}:4: `window` must look like 30d, 12h or 90m",
        f"{path}:7: `good` needs `[{{window}}]`",
        f"{path}:9: `embedded` must be one of http_not_5xx, http_not_500, http_under_500ms, "
        "first_response, probes",
        f"{path}:13: unknown field `colour`",
        f"{path}:10: SLO `availability` is defined twice",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slos: [\n  {name: x\n", ":3: not valid YAML"),
        ("slo: []\n", ":1: expected a mapping with a non-empty list `slos`"),
        ("slos:\n  - just a string\n", ":2: each SLO is a mapping"),
    ],
)
def test_it_refuses_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "slos.yml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load(path)


def test_it_checks_a_file_from_the_command(tmp_path: Path) -> None:
    path = tmp_path / "slos.yml"
    path.write_text(BAD)
    with pytest.raises(CommandError, match=r"slos.yml:3: `objective`"):
        call_command("slo", "check", str(path))
    out = StringIO()
    call_command("slo", "check", str(SHIPPED), stdout=out)
    assert "5 SLOs, valid" in out.getvalue()


# ---- the maths, against figures computed by hand -----------------------------------------


def test_it_computes_budgets_and_burn_rates_like_the_workbook() -> None:
    # 99.9 % over 30 d: a 0.1 % budget. 1 000 requests with 15 errors: 1.5 % errors.
    ratio = burn.error_ratio(985, 1000)
    assert ratio == pytest.approx(0.015)
    assert burn.burn_rate(ratio, 0.001) == pytest.approx(15.0)  # over 14.4: pages on 1h/5m
    assert burn.budget_remaining(0.0005, 0.001) == pytest.approx(0.5)  # half of it spent
    assert burn.budget_remaining(0.002, 0.001) == pytest.approx(-1.0)  # spent twice over
    # Half the budget left, burning 2x: the other half lasts a quarter of 30 days.
    assert burn.seconds_to_exhaustion(0.5, 2.0, 30 * 86400) == pytest.approx(7.5 * 86400)
    assert burn.seconds_to_exhaustion(0.5, 0.0, 30 * 86400) is None
    assert burn.seconds_to_exhaustion(-0.1, 5.0, 30 * 86400) == 0.0
    assert burn.error_ratio(0, 0) is None
    page = burn.BURN_ALERTS[0]
    assert burn.firing({"1h": 15.0, "5m": 20.0}, page)
    assert not burn.firing({"1h": 15.0, "5m": 14.0}, page)  # no longer happening
    assert not burn.firing({"1h": 14.0, "5m": 90.0}, page)  # a blip, not a trend
    assert not burn.firing({"1h": None, "5m": 90.0}, page)


def _history(rows: list[tuple[float, float, float]], end: float = NOW) -> None:
    """Store minutes of request counts in the metrics history, as its sampler writes them:
    (seconds before ``end``, requests answered 200, all requests; the rest answered 503),
    every request within 500 ms."""
    histogram = "http_server_request_duration_seconds"
    series = {
        (suffix, code): Series.objects.create(
            key=series_key(histogram + suffix, labels),
            name=histogram + suffix,
            kind="counter",
            labels=labels,
            first_seen=0,
            last_seen=int(end),
        )
        for code in ("200", "503")
        for suffix, labels in (
            ("_count", {"http_response_status_code": code}),
            ("_bucket", {"http_response_status_code": code, "le": "0.5"}),
        )
    }
    Point.objects.bulk_create(
        Point(series=one, step=60, start=int(end - ago) - 60, value=value)
        for ago, good, total in rows
        for (_, code), one in series.items()
        if (value := good if code == "200" else total - good)
    )
    rollup_hours(0, int(end) // 3600 * 3600)
    SamplerState.objects.update_or_create(pk=1, defaults={"checkpoint_at": int(end)})


@pytest.mark.django_db
def test_it_sums_the_history_over_each_window() -> None:
    # A steady 1 000 requests a minute for 3 days with half an error a minute (0.05 %); 30
    # errors a minute in the last 10 minutes.
    rows = [(m * 60.0, 999.5 if m >= 10 else 970.0, 1000.0) for m in range(0, 3 * 1440)]
    _history(rows)
    counts = EmbeddedCounts()
    availability = by_name("availability")
    assert counts.counts(availability, "5m", NOW) == (5 * 970.0, 5000.0)
    rates = {}
    for window in ("5m", "1h", "6h", "1d", "3d"):
        good, total = counts.counts(availability, window, NOW)
        rates[window] = burn.burn_rate(burn.error_ratio(good, total), availability.budget)
    # By hand: 5m: 30/1000 = 3 % -> 30x; 1h: (10*30 + 50*0.5)/60 000 -> 5.4167x;
    # 6h: (300 + 350*0.5)/360 000 -> 1.3194x; 1d: (300 + 1430*0.5)/1 440 000 -> 0.7049x;
    # 3d: (300 + 4310*0.5)/4 320 000 -> 0.5683x.
    assert rates["5m"] == pytest.approx(30.0)
    assert rates["1h"] == pytest.approx(5.416667, rel=1e-6)
    assert rates["6h"] == pytest.approx(1.319444, rel=1e-6)
    assert rates["1d"] == pytest.approx(0.704861, rel=1e-6)
    assert rates["3d"] == pytest.approx(0.568287, rel=1e-6)
    figures = status(availability, counts, NOW)
    # The 30 d window holds the 3 days of data: 4 320 000 requests, 2 455 errors, so
    # 0.056829 % of the 0.1 % budget is spent: 43.17 % of it is left.
    assert figures.total == 4_320_000
    assert figures.sli == pytest.approx(1 - 2455 / 4_320_000)
    assert figures.budget_remaining == pytest.approx(0.431713, rel=1e-5)
    # No pair burns over its factor on both windows (the 1h/5m pair: 5.4x < 14.4x).
    assert [a["firing"] for a in figures.alerts] == [False, False, False, False]
    # At the current (1h) rate what is left lasts 0.431713 * 30 d / 5.416667 = 2.391 days.
    assert figures.seconds_to_exhaustion == pytest.approx(2.391 * 86400, rel=1e-3)


def test_it_reads_the_http_slis_from_the_history_the_worker_samples(db: None) -> None:
    registry = CollectorRegistry()
    histogram = Histogram(
        "http_server_request_duration_seconds",
        "d",
        ["http_request_method", "http_route", "http_response_status_code"],
        registry=registry,
        buckets=(0.1, 0.5, 1.0),
    )
    recorder = Recorder(registry)
    recorder.at(0)  # the first reading is the baseline
    for _ in range(90):
        histogram.labels("GET", "/api/", "200").observe(0.05)
    for _ in range(6):
        histogram.labels("GET", "/api/", "503").observe(0.05)
    for _ in range(4):
        histogram.labels("GET", "/api/", "500").observe(0.9)
    recorder.at(30)
    now = recorder.at(60)  # a new minute: the last one is written
    counts = EmbeddedCounts()
    assert {
        name: counts.counts(by_name(name), "5m", now)
        for name in ("availability", "error_rate", "latency")
    } == {
        "availability": (90.0, 100.0),
        "error_rate": (96.0, 100.0),
        "latency": (96.0, 100.0),
    }
    # The 30-day window reads hour rollups and the minutes of the hour not closed yet.
    assert counts.counts(by_name("availability"), "30d", now) == (90.0, 100.0)


def test_it_counts_first_responses_by_when_their_outcome_was_known(make_ticket: Any) -> None:
    now = timezone.now()
    on_time, late, unanswered, not_due = (make_ticket() for _ in range(4))
    for ticket, due, answered in (
        (on_time, now + timedelta(minutes=5), now - timedelta(minutes=25)),
        (late, now - timedelta(minutes=50), now - timedelta(minutes=10)),
        (unanswered, now - timedelta(minutes=20), None),
        (not_due, now + timedelta(hours=1), None),
    ):
        ticket.first_response_due_at, ticket.first_response_at = due, answered
        ticket.save()
    counts = EmbeddedCounts()
    first_response = by_name("first_response")
    assert counts.counts(first_response, "1h", now.timestamp()) == (1.0, 3.0)
    # Over 30 minutes the late answer does not count: its miss was known at its due time.
    assert counts.counts(first_response, "30m", now.timestamp()) == (1.0, 2.0)


@pytest.mark.django_db
def test_it_counts_probe_runs() -> None:
    at = datetime.fromtimestamp(NOW - 30, tz=UTC)
    for success in (True, True, True, False):
        ProbeRun.objects.create(probe="ready", started_at=at, success=success, duration_seconds=0)
    counts = EmbeddedCounts()
    assert counts.counts(by_name("probe_availability"), "5m", NOW) == (3.0, 4.0)


# ---- report, command, API ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_reports_every_slo_from_the_command() -> None:
    # The command reports at the current time: a sample of a minute ago, 3 % errors.
    _history([(60.0, 970.0, 1000.0)], end=time.time() // 60 * 60)
    out = StringIO()
    call_command("slo", "report", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["source"] == "embedded"
    assert [s["name"] for s in data["slos"]] == [s.name for s in slos()]
    table = StringIO()
    call_command("slo", "report", stdout=table)
    assert "availability" in table.getvalue() and "FIRING" in table.getvalue()


def test_it_serves_the_report_to_staff_only(alice: Any, bob: Any, settings: Any) -> None:
    settings.MONITORING_API_TOKEN = "m" * 40
    assert client_for(None).get("/api/v1/monitoring/slo/").status_code == 401
    assert client_for(alice).get("/api/v1/monitoring/slo/").status_code == 403
    bob.is_staff = True
    bob.save()
    answer = client_for(bob).get("/api/v1/monitoring/slo/")
    assert answer.status_code == 200
    first = answer.json()["slos"][0]
    assert set(first) >= {
        "objective",
        "sli",
        "budget_remaining",
        "burn_rates",
        "seconds_to_exhaustion",
    }
    token = client_for(None)
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {'m' * 40}")
    assert token.get("/api/v1/monitoring/slo/").status_code == 200


def test_it_answers_503_when_prometheus_is_unreachable(bob: Any, settings: Any) -> None:
    settings.PROMETHEUS_URL = "http://127.0.0.1:1"
    bob.is_staff = True
    bob.save()
    answer = client_for(bob).get("/api/v1/monitoring/slo/")
    assert answer.status_code == 503
    assert answer["Retry-After"] == "30"
    assert "127.0.0.1" not in answer.content.decode()


# ---- the embedded alert --------------------------------------------------------------------


@pytest.mark.django_db
def test_it_pages_once_on_a_fast_burn_in_the_embedded_evaluator() -> None:
    # 3 % errors for the last hour (the only data): 30x the availability budget everywhere.
    _history([(m * 60.0, 970.0, 1000.0) for m in range(60)])
    clock = [NOW]
    rules = [r for r in default_rules() if r.name == "ErrorBudgetBurn"]
    assert len(rules) == 4 * len(slos())
    evaluator = Evaluator(rules, DatabaseSink(), clock=lambda: clock[0])
    evaluator.evaluate()
    clock[0] += 120  # the catalogue's `for: 2m`
    evaluator.evaluate()
    firing = {
        (a.labels["slo"], a.labels["windows"], a.severity)
        for a in Alert.objects.filter(name="ErrorBudgetBurn", status="firing")
    }
    assert firing == {
        ("availability", "1h/5m", "critical"),
        ("availability", "6h/30m", "critical"),
        ("availability", "1d/2h", "warning"),
        ("availability", "3d/6h", "warning"),
    }
    alert = Alert.objects.get(labels__windows="1h/5m")
    assert alert.annotations["runbook_url"] == "docs/runbooks/ErrorBudgetBurn.md"
    assert "30.00x over 1h" in alert.annotations["description"]


def test_it_reports_the_embedded_source_without_prometheus(db: None) -> None:
    assert report(now=NOW)["source"] == "embedded"
