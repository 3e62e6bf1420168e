"""The embedded evaluator: for/pending/firing/resolved, no flapping, its real sources, and the
database-down path (direct delivery, spool, reconcile)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram

from helpdesk.monitoring.alerting import sources
from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator, Observation, Rule
from helpdesk.monitoring.alerting.models import Alert, Channel, Notification
from helpdesk.monitoring.history import query
from tests.metrics_history import Recorder
from tests.receivers import HttpReceiver
from tests.scratchdb import _env, _run, database  # noqa: F401 - a fixture


class Flag:
    """An in-process source whose condition the test sets."""

    def __init__(self) -> None:
        self.bad = False

    def observe(self, now: float) -> list[Observation]:
        return [Observation(instance="x", bad=self.bad, labels={"check": "x"})]


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_600_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 15) -> None:
        self.now += seconds


@pytest.fixture
def ops(db: None) -> Channel:
    return Channel.objects.create(name="ops", kind="slack", config={"url": "http://x/"})


def make(for_seconds: float = 30, resolve_after: int = 2) -> tuple[Flag, Clock, Evaluator]:
    flag, clock = Flag(), Clock()
    rule = Rule("DependencyDown", "critical", flag, "down", for_seconds, resolve_after)
    return flag, clock, Evaluator([rule], DatabaseSink(), clock=clock)


def test_it_goes_pending_then_firing_after_for_then_resolves(ops: Channel) -> None:
    flag, clock, evaluator = make()
    flag.bad = True
    evaluator.evaluate()
    assert list(evaluator.states().values()) == ["pending"]
    clock.tick()
    evaluator.evaluate()
    assert Alert.objects.count() == 0  # 15 s < for 30 s
    clock.tick()
    assert evaluator.evaluate()["fired"] == 1
    alert = Alert.objects.get()
    assert alert.status == "firing" and alert.labels["check"] == "x"
    assert alert.starts_at.timestamp() == clock.now - 30  # since it went pending
    flag.bad = False
    clock.tick()
    evaluator.evaluate()
    assert Alert.objects.get().status == "firing"  # one good evaluation is not enough
    clock.tick()
    assert evaluator.evaluate()["resolved"] == 1
    assert Alert.objects.get().status == "resolved"
    assert sorted(Notification.objects.values_list("kind", flat=True)) == ["firing", "resolved"]


def test_it_does_not_fire_when_the_condition_clears_while_pending(ops: Channel) -> None:
    flag, clock, evaluator = make()
    flag.bad = True
    evaluator.evaluate()
    flag.bad = False
    clock.tick()
    evaluator.evaluate()
    flag.bad = True
    clock.tick()
    evaluator.evaluate()  # pending again from now
    assert Alert.objects.count() == 0


def test_it_measures_for_on_its_timer_not_on_a_wall_clock_that_steps(ops: Channel) -> None:
    # The worker's wall clock set 2 h ahead, then back: an evaluation that read it just before
    # it was set back found the rule pending for 2 h and fired it at once.
    flag, wall, timer = Flag(), Clock(), Clock()
    rule = Rule("DependencyDown", "critical", flag, "down", 30, 2)
    evaluator = Evaluator([rule], DatabaseSink(), clock=wall, timer=timer)
    flag.bad = True
    evaluator.evaluate()
    wall.tick(7200)
    timer.tick(5)
    evaluator.evaluate()
    assert Alert.objects.count() == 0  # pending 5 s by the timer, whatever the wall clock says
    wall.tick(-7200)
    timer.tick(30)
    assert evaluator.evaluate()["fired"] == 1
    assert Alert.objects.get().starts_at.timestamp() == 1_767_600_000.0  # the wall time it began


def test_it_reads_the_clock_again_once_the_holding_rules_found_it_right(ops: Channel) -> None:
    # The clock is set back from +2 h between the evaluation's first reading and the holding
    # rule's check: the holder sees it right, so the others must not read their windows at
    # the +2 h of that first reading.
    readings = iter([1_767_607_200.0, 1_767_600_000.0])
    skew, windowed = Flag(), SimpleNamespace(seen=[])

    def observe(now: float) -> list[Observation]:
        windowed.seen.append(now)
        return [Observation(instance="x", bad=now > 1_767_600_000.0, labels={})]

    holder = Rule("ClockSkew", "warning", skew, "skew", 0, 2, holds_others=True)
    spike = Rule("RequestRateSpike", "warning", SimpleNamespace(observe=observe), "spike", 0, 2)
    evaluator = Evaluator(
        [spike, holder], DatabaseSink(), clock=lambda: next(readings), timer=lambda: 0.0
    )
    assert evaluator.evaluate()["fired"] == 0
    assert windowed.seen == [1_767_600_000.0]


def test_it_times_pending_rules_on_the_monotonic_clock_by_default() -> None:
    assert Evaluator([], DatabaseSink()).timer is time.monotonic
    clock = Clock()
    assert Evaluator([], DatabaseSink(), clock=clock).timer is clock


def test_it_does_not_flap(ops: Channel) -> None:
    flag, clock, evaluator = make(for_seconds=0, resolve_after=3)
    for i in range(12):
        flag.bad = i % 2 == 0
        evaluator.evaluate()
        clock.tick()
    assert Alert.objects.count() == 1
    assert Notification.objects.count() == 1


def test_a_second_evaluator_adopts_and_resolves_the_firing_alert(ops: Channel) -> None:
    flag, _, first = make(for_seconds=0)
    flag.bad = True
    first.evaluate()
    _, _, second = make(for_seconds=0)  # e.g. the worker restarted
    second.rules[0].source = flag
    flag.bad = False
    second.evaluate()
    second.evaluate()
    assert Alert.objects.get().status == "resolved"


def http_histogram() -> tuple[Histogram, Recorder, sources.HttpWindow]:
    """Return the app's HTTP duration histogram in its own registry, a recorder sampling it
    into the history, and a window on the history."""
    registry = CollectorRegistry()
    histogram = Histogram(
        "http_server_request_duration_seconds",
        "HTTP server request duration",
        ["http_request_method", "http_route", "http_response_status_code"],
        registry=registry,
        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )
    window = sources.HttpWindow(backend=query.EmbeddedBackend, window_seconds=300)
    return histogram, Recorder(registry), window


@pytest.mark.django_db
def test_it_reads_the_5xx_ratio_and_p95_from_the_history() -> None:
    histogram, record, window = http_histogram()
    ratio = sources.ErrorRatioSource(window, ratio=0.05, min_rate=0.1)
    latency = sources.LatencySource(window, seconds=1.0, min_rate=0.1)
    for _ in range(500):  # old history that must not count
        histogram.labels("GET", "/api/", "500").observe(0.01)
    assert not ratio.observe(record.at(0))[0].bad
    for _ in range(95):
        histogram.labels("GET", "/api/", "200").observe(0.08)
    for _ in range(5):
        histogram.labels("GET", "/api/", "503").observe(0.08)
    record.at(60)
    assert not ratio.observe(record.at(120))[0].bad  # 5 % is not over 5 %
    histogram.labels("GET", "/api/", "500").observe(0.08)
    record.at(180)
    observation = ratio.observe(record.at(240))[0]
    assert observation.bad and observation.value == pytest.approx(6 / 101)
    assert not latency.observe(record.now)[0].bad
    for _ in range(200):
        histogram.labels("POST", "/api/", "200").observe(3.0)
    record.at(300)
    slow = latency.observe(record.at(360))[0]
    assert slow.bad and 2.5 < (slow.value or 0) <= 5


def test_it_interpolates_quantiles_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert query.quantile_of(0.5, buckets) == pytest.approx(0.1)
    assert query.quantile_of(0.95, buckets) == pytest.approx(0.75)
    assert query.quantile_of(0.95, []) is None


@pytest.mark.django_db
def test_it_needs_the_traffic_floor_before_the_error_ratio_counts() -> None:
    histogram, record, window = http_histogram()
    ratio = sources.ErrorRatioSource(window, ratio=0.05, min_rate=0.1)
    ratio.observe(record.at(0))
    for _ in range(20):  # all failing, but 20 requests in 300 s is 0.07 req/s: quiet
        histogram.labels("GET", "/api/", "500").observe(0.01)
    record.at(60)
    assert not ratio.observe(record.at(120))[0].bad
    for _ in range(20):
        histogram.labels("GET", "/api/", "500").observe(0.01)
    record.at(180)
    assert ratio.observe(record.at(240))[0].bad


def test_it_judges_system_resources_against_the_catalogue_thresholds() -> None:
    from helpdesk.monitoring.system.monitor import DiskUsage

    shot = SimpleNamespace(
        cpu_percent=91.0,
        cpu_source="cgroup",
        memory_percent=40.0,
        memory_source="cgroup",
        disks=[DiskUsage("/data", 100, 95, 5, 95.0), DiskUsage("/", 100, 50, 50, 50.0)],
    )
    cpu = sources.SystemSource("cpu", 0.8, snapshot=lambda now: shot)
    memory = sources.SystemSource("memory", 0.85, snapshot=lambda now: shot)
    disk = sources.SystemSource("disk", 0.1, snapshot=lambda now: shot)
    [busy] = cpu.observe(0)
    assert busy.bad and busy.labels == {"source": "cgroup"}
    assert not memory.observe(0)[0].bad
    assert {o.labels["path"]: o.bad for o in disk.observe(0)} == {"/data": True, "/": False}


@pytest.mark.django_db
def test_it_reports_dead_letters(ops: Channel) -> None:
    from django.utils import timezone

    source = sources.DeliveryFailingSource()
    assert not source.observe(0)[0].bad
    alert = Alert.objects.create(
        fingerprint="f", name="X", severity="error", source="builtin", starts_at=timezone.now()
    )
    Notification.objects.create(
        alert=alert,
        channel=ops,
        kind="firing",
        idempotency_key="k",
        status="dead",
        claimed_at=timezone.now(),
    )
    assert source.observe(0)[0].bad


DATABASE_DOWN = """
import json
from types import SimpleNamespace
from django.db import connection
from helpdesk.monitoring.alerting.management.commands.worker import build_worker
from helpdesk.monitoring.alerting.models import Alert, Notification
from helpdesk.monitoring.alerting import spool

worker = build_worker()
jobs = {job.name: job for job in worker.jobs}
def run(*names):
    for name in names:
        worker.run_job(jobs[name])
        assert not jobs[name].last_error or name == "heartbeat", (name, jobs[name].last_error)

run("channels", "evaluate", "deliver")
saved = dict(connection.settings_dict)
connection.close()
if connection.vendor == "sqlite":
    connection.settings_dict["NAME"] = "/nonexistent/helpdesk/db.sqlite3"
else:
    connection.settings_dict["PORT"] = "1"
run("evaluate", "evaluate")  # the database is down: delivered directly, spooled once
spooled = len(spool.read())
connection.close()
connection.settings_dict.update(saved)
run("evaluate", "deliver", "evaluate", "deliver")  # back: reconciled, then resolved
alert = Alert.objects.get()
print(json.dumps({
    "spooled": spooled,
    "left": len(spool.read()),
    "status": alert.status,
    "check": alert.labels.get("check"),
    "rows": sorted(Notification.objects.values_list("kind", "status", "idempotency_key")),
}))
"""


@pytest.mark.services
def test_it_alerts_about_the_database_while_it_is_down(
    tmp_path: Path,
    database: tuple[str, Any],  # noqa: F811 - the fixture imported above
) -> None:
    url, _ = database
    with HttpReceiver() as slack:
        env = _env(
            tmp_path,
            url,
            ALERT_SLACK_WEBHOOK_URL=slack.url,
            DB_CONNECT_TIMEOUT="2",
            ALERT_THRESHOLDS="DatabaseDown.for=0",  # the catalogue's 1 min, shortened
        )
        _run(env, "migrate", "--no-input")
        out = _run(env, "shell", "-c", DATABASE_DOWN)
        received = [
            (item["headers"]["Idempotency-Key"], item["json"]["attachments"][0]["title"])
            for item in slack.accepted
        ]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["spooled"] == 1  # the second evaluation while down did not repeat it
    assert result["left"] == 0
    assert result["status"] == "resolved" and result["check"] == "database"
    kinds = [(kind, status) for kind, status, _ in result["rows"]]
    assert kinds == [("firing", "sent"), ("resolved", "sent")]
    # The receiver got the firing message while the database was down, then the resolved
    # one, each once, with the keys the alert history now records.
    assert [key for key, _ in received] == [key for *_, key in sorted(result["rows"])]
    assert received[0][1].startswith("[FIRING:critical] DatabaseDown")
    assert received[1][1].startswith("[RESOLVED:critical] DatabaseDown")


def test_a_holding_rule_keeps_the_other_rules_as_they_are_while_it_is_bad(ops: Channel) -> None:
    # ClockSkew's shape: while the clock is off, every other window is read at the wrong time.
    clock_off, dependency, other = Flag(), Flag(), Flag()
    clock = Clock()
    rules = [
        Rule("DependencyDown", "critical", dependency, "down", 0, 1),
        Rule("OtherDown", "critical", other, "down", 0, 1),
        Rule("ClockSkew", "warning", clock_off, "clock off", 60, 1, holds_others=True),
    ]
    evaluator = Evaluator(rules, DatabaseSink(), clock=clock)
    dependency.bad = True
    assert evaluator.evaluate()["fired"] == 1
    clock_off.bad = True  # held at once, while ClockSkew is still pending
    dependency.bad, other.bad = False, True
    for _ in range(5):  # ClockSkew fires after its 60 s
        clock.tick()
        assert evaluator.evaluate().get("held") == 2
    assert dict(Alert.objects.values_list("name", "status")) == {
        "DependencyDown": "firing",  # not resolved by the held turns
        "ClockSkew": "firing",
    }
    clock_off.bad = False
    clock.tick()
    counts = evaluator.evaluate()
    assert "held" not in counts and counts["resolved"] == 2 and counts["fired"] == 1
    assert dict(Alert.objects.values_list("name", "status")) == {
        "DependencyDown": "resolved",
        "ClockSkew": "resolved",
        "OtherDown": "firing",
    }


@pytest.mark.django_db
def test_it_measures_the_worker_clock_against_the_database() -> None:
    import time
    from datetime import UTC, datetime, timedelta

    import time_machine

    source = sources.clock_skew({"max_seconds": 30})
    (right,) = source.observe(0.0)  # the evaluation time is not the clock it measures
    assert not right.bad and right.value is not None and abs(right.value) < 2
    for step, bad in ((7200, True), (-40, True), (20, False)):
        # This process's wall clock moved, as a host's stepped clock; the database's did not.
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=step), tick=True):
            (observed,) = source.observe(time.time())
        assert observed.bad is bad and observed.value is not None
        assert abs(observed.value - step) < 2
        said = f"{observed.value:+.0f} s off the database's (threshold 30 s)"
        assert said in observed.annotations["description"]
