"""System figures in range, thresholds with a sustained-for window, ``helpdesk system-check``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from prometheus_client import CollectorRegistry, generate_latest
from rest_framework.test import APIClient

from helpdesk.monitoring.system import signals
from helpdesk.monitoring.system.collector import SystemCollector
from helpdesk.monitoring.system.monitor import (
    DiskUsage,
    Sampler,
    Snapshot,
    ThresholdMonitor,
    Thresholds,
)
from tests.conftest import client_for

TOKEN = "s" * 40


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return Sampler(["/", "/does/not/exist"], warmup=0.1).sample()


def test_it_samples_values_in_range(snapshot: Snapshot) -> None:
    assert 0 <= snapshot.cpu_percent <= 100
    assert snapshot.cpu_cores >= 1
    assert 0 <= snapshot.memory_percent <= 100
    assert 0 < snapshot.memory_used_bytes <= snapshot.memory_limit_bytes
    assert 0 <= snapshot.swap_percent <= 100
    assert all(x >= 0 for x in snapshot.load_average)
    (disk,) = snapshot.disks  # the missing path is skipped, not an error
    assert disk.path == "/"
    assert 0 < disk.percent < 100
    assert disk.used_bytes + disk.free_bytes <= disk.total_bytes
    assert snapshot.network["bytes_received"] >= 0
    process = snapshot.process
    assert process["pid"] == os.getpid()
    assert process["rss_bytes"] > 10 * 2**20
    assert process["threads"] >= 1
    assert process["open_fds"] >= 3


def test_it_sees_a_busy_core() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        sampler = Sampler(["/"], cgroup_root=Path("/nonexistent"), warmup=0.5)
        percent = sampler.sample().cpu_percent
    finally:
        busy.kill()
        busy.wait()
    one_core = 100 / (os.cpu_count() or 1)
    assert percent >= one_core / 2


def fake(snapshot: Snapshot, cpu: float = 10.0, disk: float = 10.0) -> Snapshot:
    return dataclasses.replace(
        snapshot,
        cpu_percent=cpu,
        memory_percent=10.0,
        disks=[DiskUsage("/data", 100, int(disk), 100 - int(disk), disk)],
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def crossed(self, sender: Any, **kwargs: Any) -> None:
        self.events.append(("crossed", kwargs))

    def cleared(self, sender: Any, **kwargs: Any) -> None:
        self.events.append(("cleared", kwargs))


@pytest.fixture
def recorder() -> Any:
    recorder = Recorder()
    signals.threshold_crossed.connect(recorder.crossed)
    signals.threshold_cleared.connect(recorder.cleared)
    yield recorder
    signals.threshold_crossed.disconnect(recorder.crossed)
    signals.threshold_cleared.disconnect(recorder.cleared)


def test_it_crosses_only_after_the_sustained_window(
    snapshot: Snapshot, recorder: Recorder, caplog: Any
) -> None:
    now = [0.0]
    monitor = ThresholdMonitor(
        dataclasses.replace(Thresholds.from_settings(), sustained_seconds=60), clock=lambda: now[0]
    )
    assert monitor.observe(fake(snapshot, cpu=95)) == []  # a spike is not an alert
    now[0] = 30
    assert monitor.observe(fake(snapshot, cpu=10)) == []  # back under: the window restarts
    now[0] = 40
    assert monitor.observe(fake(snapshot, cpu=95)) == []
    now[0] = 99
    assert monitor.observe(fake(snapshot, cpu=95)) == []
    now[0] = 100
    with caplog.at_level(logging.INFO, logger="helpdesk.monitoring.system.monitor"):
        (transition,) = monitor.observe(fake(snapshot, cpu=96))
        assert (transition.kind, transition.resource) == ("crossed", "cpu")
        now[0] = 200
        assert monitor.observe(fake(snapshot, cpu=97)) == []  # told once
        assert monitor.crossed()["cpu"] is True
        now[0] = 210
        (transition,) = monitor.observe(fake(snapshot, cpu=20))
        assert transition.kind == "cleared"
    assert monitor.crossed()["cpu"] is False
    assert [kind for kind, _ in recorder.events] == ["crossed", "cleared"]
    crossed = recorder.events[0][1]
    assert crossed["resource"] == "cpu"
    assert crossed["value"] == 96
    assert crossed["limit"] == 80
    assert crossed["sustained_seconds"] == 60
    records = [r for r in caplog.records if r.name == "helpdesk.monitoring.system.monitor"]
    assert [r.levelname for r in records] == ["WARNING", "INFO"]
    assert getattr(records[0], "event.action") == "system_threshold_crossed"
    assert "cpu at 96.0% is over its 80% threshold for 60 s" in records[0].getMessage()


def test_it_tracks_each_disk_path_on_its_own(snapshot: Snapshot, recorder: Recorder) -> None:
    now = [0.0]
    monitor = ThresholdMonitor(
        dataclasses.replace(Thresholds.from_settings(), disk=50, sustained_seconds=0),
        clock=lambda: now[0],
    )
    (transition,) = monitor.observe(fake(snapshot, disk=75))
    assert transition.resource == "disk:/data"
    assert transition.limit == 50


def test_it_reads_thresholds_from_settings(settings: Any) -> None:
    settings.SYSTEM_CPU_THRESHOLD_PERCENT = 70
    settings.SYSTEM_SUSTAINED_SECONDS = 5
    thresholds = Thresholds.from_settings()
    assert (thresholds.cpu, thresholds.memory, thresholds.disk) == (70, 85, 90)
    assert thresholds.sustained_seconds == 5


def test_it_exits_1_naming_what_is_over(settings: Any) -> None:
    settings.SYSTEM_DISK_PATHS = ["/"]
    settings.SYSTEM_DISK_THRESHOLD_PERCENT = 0
    # CPU and memory can never be over 100 %: only the disk is over, whatever the load.
    settings.SYSTEM_CPU_THRESHOLD_PERCENT = settings.SYSTEM_MEMORY_THRESHOLD_PERCENT = 100
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("system_check", stdout=out, stderr=err)
    assert exit_info.value.code == 1
    assert err.getvalue().startswith("over threshold: disk:/ ")
    assert "cpu" not in err.getvalue()
    assert "cpu" in out.getvalue()


def test_it_exits_0_when_everything_is_under(settings: Any) -> None:
    settings.SYSTEM_DISK_PATHS = ["/"]
    for name in ("CPU", "MEMORY", "DISK"):
        setattr(settings, f"SYSTEM_{name}_THRESHOLD_PERCENT", 100)
    out = StringIO()
    call_command("system_check", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["over"] == []


def test_it_runs_as_helpdesk_system_check(tmp_path: Path) -> None:
    helpdesk = str(Path(sys.executable).with_name("helpdesk"))
    env = {
        **os.environ,
        "HELPDESK_DATA_DIR": str(tmp_path),
        "SYSTEM_DISK_PATHS": "/",
        "SYSTEM_CPU_THRESHOLD_PERCENT": "100",
        "SYSTEM_MEMORY_THRESHOLD_PERCENT": "100",
    }
    over = subprocess.run(
        [helpdesk, "system-check"],
        check=False,
        env={**env, "SYSTEM_DISK_THRESHOLD_PERCENT": "0"},
        capture_output=True,
        text=True,
    )
    assert over.returncode == 1
    assert "over threshold: disk:/" in over.stderr
    under = subprocess.run(
        [helpdesk, "system-check"],
        check=False,
        env={**env, "SYSTEM_DISK_THRESHOLD_PERCENT": "100"},
        capture_output=True,
        text=True,
    )
    assert under.returncode == 0, under.stderr
    assert "ok: everything under its threshold" in under.stdout


def test_it_exports_helpdesk_system_metrics(settings: Any) -> None:
    settings.SYSTEM_DISK_PATHS = ["/"]
    registry = CollectorRegistry()
    registry.register(SystemCollector())
    text = generate_latest(registry).decode()
    for name in (
        "helpdesk_system_cpu_utilisation_ratio",
        "helpdesk_system_memory_utilisation_ratio",
        'helpdesk_system_load_average{period="1m"}',
        "helpdesk_system_network_received_bytes_total",
        "helpdesk_system_process_open_fds",
        "helpdesk_system_threshold_crossed",
    ):
        assert name in text
    assert (
        "helpdesk.monitoring.system.collector.SystemCollector"
        in settings.HELPDESK_METRICS_COLLECTORS
    )


@pytest.mark.django_db
def test_it_serves_the_system_api_to_staff_and_token_only(
    settings: Any, alice: Any, bob: Any, charlie: Any
) -> None:
    settings.MONITORING_API_TOKEN = TOKEN
    url = "/api/v1/monitoring/system/"
    for user in (alice, bob, charlie):
        assert client_for(user).get(url).status_code == 403
    assert APIClient().get(url).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    body = client.get(url).json()
    assert body["thresholds"]["cpu_percent"] == 80
    assert 0 <= body["snapshot"]["memory_percent"] <= 100
    bob.is_staff = True
    bob.save()
    assert client_for(bob).get(url).status_code == 200
