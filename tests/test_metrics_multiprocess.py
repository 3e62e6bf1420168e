"""Multiprocess metrics: our reader and compaction against prometheus_client's own collector,
and a real gunicorn with two workers whose scraped totals are the sum of the requests."""

from __future__ import annotations

import os
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
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from helpdesk.monitoring.metrics.multiprocess import MultiProcessReader, compact, worker_exited
from tests.engines import prometheus
from tests.services import free_port, require_binary
from tests.web_server import gunicorn_server

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


def test_it_renders_exactly_what_prometheus_client_renders(tmp_path: Path) -> None:
    _writers(tmp_path, [5, 9, 13])
    ours = MultiProcessReader(str(tmp_path)).render_text()
    assert ours == _theirs(tmp_path)
    assert 'note="quote \\" back \\\\ nl \\n ünï"' in ours
    collector = MultiProcessCollector(None, path=str(tmp_path))
    assert list(MultiProcessReader(str(tmp_path)).collect()) == list(collector.collect())


def test_it_renders_identically_from_its_cached_layout(tmp_path: Path) -> None:
    from prometheus_client.mmap_dict import MmapedDict

    from helpdesk.monitoring.metrics import multiprocess

    pids = _writers(tmp_path, [5, 9], modes="sum,livesum")
    reader = MultiProcessReader(str(tmp_path))
    assert reader.render_text() == _theirs(tmp_path)
    assert str(tmp_path) in multiprocess._PLANS  # sums only: the layout is planned
    # A live worker's values change in place: same layout, new values.
    store = MmapedDict(str(tmp_path / f"counter_{pids[0]}.db"))
    for key, value, _ts in list(store.read_all_values()):
        store.write_value(key, value + 2.5, 0.0)
    store.close()
    assert reader.render_text() == _theirs(tmp_path)
    # A new worker adds files and series: the layout is planned again.
    _writers(tmp_path, [17], modes="sum,livesum")
    assert reader.render_text() == _theirs(tmp_path)
    compact(str(tmp_path), pids)
    assert reader.render_text() == _theirs(tmp_path)


def test_it_compacts_dead_workers_without_changing_the_output(tmp_path: Path) -> None:
    pids = _writers(tmp_path, [4, 7, 10, 3])
    before = _theirs(tmp_path)
    assert compact(str(tmp_path), pids[:2]) == 6  # counter, histogram, summary of two pids
    assert not (tmp_path / f"counter_{pids[0]}.db").exists()
    assert (tmp_path / "counter_archive.db").exists()
    assert (tmp_path / "histogram_archive.db").exists()
    after = MultiProcessReader(str(tmp_path)).render_text()
    assert after == _theirs(tmp_path)
    assert sorted(after.splitlines()) == sorted(before.splitlines())
    # A second round merges into the existing archive.
    compact(str(tmp_path), pids[2:])
    assert sorted(MultiProcessReader(str(tmp_path)).render_text().splitlines()) == sorted(
        before.splitlines()
    )
    assert not list(tmp_path.glob("counter_[0-9]*.db"))


def test_it_drops_live_gauges_of_a_dead_worker(tmp_path: Path) -> None:
    (pid,) = _writers(tmp_path, [3])
    worker_exited(pid, str(tmp_path))
    text = MultiProcessReader(str(tmp_path)).render_text()
    assert text == _theirs(tmp_path)
    assert "g_livesum{" not in text
    assert 'g_sum{k="one"} 0.75' in text
    assert 'jobs_total{kind="a"' in text


def test_it_keeps_scrapes_flat_as_restarts_accumulate(tmp_path: Path) -> None:
    pids = _writers(tmp_path, [2] * 12)
    expected = sorted(_theirs(tmp_path).splitlines())
    for pid in pids[:-2]:
        worker_exited(pid, str(tmp_path))
    files = {p.name for p in tmp_path.glob("*.db")}
    assert {f"counter_{pid}.db" for pid in pids[:-2]}.isdisjoint(files)
    assert "counter_archive.db" in files
    text = MultiProcessReader(str(tmp_path)).render_text()
    assert text == _theirs(tmp_path)
    kept = [line for line in expected if "livesum" not in line and "liveall" not in line]
    assert [line for line in sorted(text.splitlines()) if "live" not in line] == [
        line for line in kept if "live" not in line
    ]


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
    while not (folder / "histogram_archive.db").exists():
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
