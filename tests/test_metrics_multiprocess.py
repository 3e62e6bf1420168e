"""Multiprocess metrics: the dead workers' archive against prometheus_client's own collector,
and a real gunicorn with two workers whose scraped totals are the sum of the requests."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from helpdesk.monitoring.metrics.multiprocess import (
    MultiProcessReader,
    compact,
    prepare,
    worker_exited,
)
from tests.engines import prometheus
from tests.services import free_port, require_binary
from tests.web_server import gunicorn_server, helpdesk, server_env

# Values are multiples of 1/4 so that sums are exact whatever the order of additions: compacted
# and uncompacted folders must then render the very same bytes.
WRITER = textwrap.dedent(
    """
    import os, sys
    from prometheus_client import Counter, Gauge, Histogram, Summary
    n = int(sys.argv[1])
    modes = sys.argv[2].split(",")
    c = Counter("jobs", "Jobs done.", ["kind", "note"])
    h = Histogram("latency_seconds", "Latency.", ["route"], buckets=(0.25, 1, 2.5))
    s = Summary("payload_bytes", "Payload.", ["route"])
    gauges = {
        mode: Gauge(f"g_{mode}", f"Gauge {mode}.", ["k"], multiprocess_mode=mode)
        for mode in modes
    }
    for i in range(n):
        c.labels("a", 'quote " back \\\\ nl \\n ünï').inc(1.25)
        c.labels(f"k{i % 3}", "").inc(i * 0.25)
        h.labels(f"r{i % 4}").observe((i % 12) * 0.25)
        s.labels("x").observe(i * 0.5)
    for mode, g in gauges.items():
        g.labels("one").set(n * 0.25)
        g.labels(f"p{n}").set(1)
    """
)


ALL_MODES = "all,liveall,sum,livesum,max,livemax,min,livemin,mostrecent,livemostrecent"


def _writers(directory: Path, counts: list[int], modes: str = ALL_MODES) -> list[int]:
    """Run one writer process per count; return their pids."""
    pids = []
    for n in counts:
        before = set(directory.glob("counter_*.db"))
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
        subprocess.run(
            [sys.executable, "-c", WRITER, str(n), modes], env=env, check=True, capture_output=True
        )
        (new,) = set(directory.glob("counter_*.db")) - before
        pids.append(int(new.stem.split("_")[1]))
    return pids


def _theirs(directory: Path) -> str:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def _ours(directory: Path) -> str:
    registry = CollectorRegistry()
    registry.register(MultiProcessReader(str(directory)))
    return generate_latest(registry).decode()


def _after_death(directory: Path, tmp_path: Path, pids: list[int]) -> list[str]:
    """Return what prometheus_client renders once ``pids`` died (their live gauges gone)."""
    copy = tmp_path / "expected"
    shutil.copytree(directory, copy)
    for pid in pids:
        mark_process_dead(pid, str(copy))
    return sorted(_theirs(copy).splitlines())


def test_it_renders_what_prometheus_client_renders(tmp_path: Path) -> None:
    _writers(tmp_path, [5, 9, 13])
    ours = _ours(tmp_path)
    assert ours == _theirs(tmp_path)
    assert 'note="quote \\" back \\\\ nl \\n ünï"' in ours


def test_it_compacts_dead_workers_without_changing_the_output(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    pids = _writers(folder, [4, 7, 10, 3])
    before = sorted(_theirs(folder).splitlines())
    assert compact(str(folder), pids[:2]) == 6  # counter, histogram, summary of two pids
    assert not (folder / f"counter_{pids[0]}.db").exists()
    assert sorted(_ours(folder).splitlines()) == before
    # A second round merges into the existing archive.
    assert compact(str(folder), pids[2:]) == 6
    assert sorted(_ours(folder).splitlines()) == before
    assert not list(folder.glob("counter_*.db"))
    assert compact(str(folder), pids) == 0


def test_it_keeps_the_archive_in_its_documented_format(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (pid,) = _writers(folder, [4])
    compact(str(folder), [pid])
    stored = json.loads((folder / "archive.json").read_text())
    by_name = {family["name"]: family for family in stored}
    assert set(by_name) == {"jobs", "latency_seconds", "payload_bytes"}
    jobs = by_name["jobs"]
    assert (jobs["type"], jobs["documentation"]) == ("counter", "Jobs done.")
    assert ["jobs_total", {"kind": "k1", "note": ""}, 0.25] in jobs["samples"]
    # Histogram buckets are stored cumulative, with the count, as the collector yields them.
    latency = {
        (name, labels.get("le")): value
        for name, labels, value in by_name["latency_seconds"]["samples"]
        if labels["route"] == "r0"
    }
    assert latency[("latency_seconds_bucket", "+Inf")] == latency[("latency_seconds_count", None)]


def test_it_adds_the_archive_to_live_workers_series(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    dead, _ = _writers(folder, [4, 4], modes="sum")
    expected = _after_death(folder, tmp_path, [dead])
    worker_exited(dead, str(folder))
    text = _ours(folder)
    assert sorted(text.splitlines()) == expected
    assert 'jobs_total{kind="a",note="quote' in text
    assert text.count("# TYPE jobs_total counter") == 1


def test_it_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    _writers(tmp_path, [3])
    assert gc.isenabled()
    _ours(tmp_path)
    assert gc.isenabled()
    gc.disable()
    try:
        _ours(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()
    (tmp_path / "archive.json").write_text("not json")  # a read that raises
    with pytest.raises(ValueError):
        _ours(tmp_path)
    assert gc.isenabled()


def test_it_drops_live_gauges_of_a_dead_worker(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (pid,) = _writers(folder, [3])
    expected = _after_death(folder, tmp_path, [pid])
    worker_exited(pid, str(folder))
    text = _ours(folder)
    assert sorted(text.splitlines()) == expected
    assert "g_livesum{" not in text
    assert 'g_sum{k="one"} 0.75' in text
    assert 'jobs_total{kind="a"' in text


def test_it_empties_the_folder_at_server_start_but_keeps_it(tmp_path: Path) -> None:
    """The folder may be a mount point (a tmpfs of its own), which cannot be removed."""
    folder = tmp_path / "metrics"
    (folder / "old").mkdir(parents=True)
    (folder / "counter_1.db").write_bytes(b"x")
    inode = folder.stat().st_ino
    assert prepare(str(folder), wipe=False) == str(folder)
    assert (folder / "counter_1.db").exists()
    prepare(str(folder), wipe=True)
    assert folder.stat().st_ino == inode
    assert list(folder.iterdir()) == []


def test_it_archives_a_one_off_commands_files_when_it_exits(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    env = server_env(tmp_path / "data", PROMETHEUS_MULTIPROC_DIR=str(folder))
    script = (
        "import os; from helpdesk.monitoring.metrics.instruments import CACHE_HITS;"
        "CACHE_HITS.labels('one-off').inc(3); print(os.getpid())"
    )
    pid = helpdesk(env, "shell", "-c", script).split()[-1]
    assert not list(folder.glob(f"*_{pid}.db"))  # counters archived, live gauges dropped
    text = _ours(folder)
    assert 'helpdesk_cache_hits_total{cache_alias="one-off"} 3.0' in text


def test_it_keeps_scrapes_flat_as_restarts_accumulate(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    pids = _writers(folder, [2] * 12)
    expected = _after_death(folder, tmp_path, pids[:-2])
    for pid in pids[:-2]:
        worker_exited(pid, str(folder))
    files = {p.name for p in folder.glob("*.db")}
    assert {f"counter_{pid}.db" for pid in pids[:-2]}.isdisjoint(files)
    assert len([name for name in files if name.startswith("counter_")]) == 2
    assert sorted(_ours(folder).splitlines()) == expected


# ---- a real gunicorn with two workers -------------------------------------------------------


def _scrape(base: str, token: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _count(series: dict[tuple[str, frozenset[tuple[str, str]]], float], route: str) -> float:
    return sum(
        v
        for (name, labels), v in series.items()
        if name == "http_server_request_duration_seconds_count" and ("http_route", route) in labels
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path, subprocess.Popen[bytes]]]:
    with gunicorn_server(tmp_path, port=free_port(18400, 18449)) as running:
        yield running


def _worker_pids(master: int) -> set[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True, check=False
    )
    return {int(p) for p in out.stdout.split()}


def test_it_sums_requests_over_gunicorn_workers(
    server: tuple[str, str, Path, subprocess.Popen[bytes]],
) -> None:
    base, token, data, proc = server
    for _ in range(40):
        # A new connection each time: the kernel spreads them over both workers.
        assert requests.get(f"{base}/api/v1/tickets/", timeout=10).status_code == 401
    series = _scrape(base, token)
    assert _count(series, "api/v1/tickets/") == 40
    folder = data / "prometheus-multiproc"
    assert not (folder / "counter_999999.db").exists(), "the stale file was wiped at start"
    writers = {int(p.stem.split("_")[1]) for p in folder.glob("histogram_[0-9]*.db")}
    assert len(writers) == 2, "both workers served requests"
    # /metrics is not measured: nothing is in flight between requests.
    assert series[("http_server_active_requests", frozenset())] == 0

    # A worker killed hard: gunicorn replaces it, its counts survive in the archive.
    victim = sorted(_worker_pids(proc.pid))[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (folder / "archive.json").exists():
        assert time.monotonic() < deadline, "the dead worker was not compacted"
        time.sleep(0.1)
    while len(_worker_pids(proc.pid)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for _ in range(10):
        requests.get(f"{base}/api/v1/tickets/", timeout=10)
    assert _count(_scrape(base, token), "api/v1/tickets/") == 50
    assert not (folder / f"histogram_{victim}.db").exists()

    # OpenMetrics from the same files.
    response = requests.get(
        f"{base}/metrics",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/openmetrics-text"},
        timeout=10,
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "http_server_request_duration_seconds_count{" in response.text


# ---- a real Prometheus scraping the app with bearer auth ------------------------------------


def test_it_is_scraped_by_a_real_prometheus(
    tmp_path: Path, server: tuple[str, str, Path, subprocess.Popen[bytes]]
) -> None:
    require_binary("prometheus")
    base, token, _, _ = server
    host = base.removeprefix("http://")
    token_file = tmp_path / "token"
    token_file.write_text(token)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: helpdesk
                metrics_path: /metrics
                authorization:
                  type: Bearer
                  credentials_file: {token_file}
                static_configs:
                  - targets: ["{host}"]
              - job_name: helpdesk-no-token
                metrics_path: /metrics
                static_configs:
                  - targets: ["{host}"]
            """
        )
    )
    with prometheus(config, tmp_path / "tsdb", free_port(18450, 18499)) as url:
        for _ in range(7):
            requests.get(f"{base}/api/v1/tickets/", timeout=10)
        query = 'sum(http_server_request_duration_seconds_count{http_route="api/v1/tickets/"})'
        api = f"{url}/api/v1"
        deadline = time.monotonic() + 90
        count, health = None, {}
        while time.monotonic() < deadline:
            try:
                result = requests.get(f"{api}/query", params={"query": query}, timeout=5).json()
                rows = result["data"]["result"]
                count = float(rows[0]["value"][1]) if rows else None
                targets = requests.get(f"{api}/targets", timeout=5).json()["data"]
                health = {t["labels"]["job"]: t for t in targets["activeTargets"]}
            except requests.RequestException:
                pass
            if count == 7 and health.get("helpdesk-no-token", {}).get("health") == "down":
                break
            time.sleep(0.5)
        assert count == 7
        assert health["helpdesk"]["health"] == "up"
        assert health["helpdesk-no-token"]["health"] == "down"
        assert "401" in health["helpdesk-no-token"]["lastError"]
