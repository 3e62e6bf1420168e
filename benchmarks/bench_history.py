"""Cost of the embedded metrics history: chart queries, sampling, and size on disk.

    python benchmarks/bench_history.py [--rounds 30]

Runs once on SQLite (a temporary file) and once on PostgreSQL (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/helpdesk_bench_history; created and dropped here), each in
its own process. Measured side by side:
  - chart JSON: a range query of 24 h at 1-minute steps for 6 series (request rate by route,
    5-minute windows) serialised to JSON, p50/p95 of the rounds, next to a bare SELECT of the
    same rows (the floor any implementation pays), and the same chart as the console's
    browser asks for it: a GET of /api/v1/monitoring/console/charts/<name>/?range=24h through
    the whole middleware stack (1-minute windows, laid on one grid, rendered by DRF);
  - sampling: worker CPU (process time, so PostgreSQL's own CPU is not in it) per 15 s sample
    at 5 000 series, mean and worst (the sample that writes a minute), next to reading the
    registry alone; and the same for the product's own instruments as a busy server leaves
    them (benchmarks/busy_server.py, the series bench_metrics.py scrapes), read from their
    multiprocess files with the scrape-time collectors, as ``helpdesk worker`` reads them;
  - size: bytes the history grows per day at 1 000 series when every series changes every
    minute (the worst case; an idle counter writes nothing).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/helpdesk_bench_history"
TOKEN = "bench-history-monitoring-token-0123456789"  # noqa: S105 - this process only
ROOT = Path(__file__).resolve().parent.parent


def _setup(url: str, data: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": url,
            "HELPDESK_DATA_DIR": data,
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "0",
            "MONITORING_API_TOKEN": TOKEN,
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


class Families:
    """A registry of ``series`` series: histograms by route (12 buckets, count, sum) and
    gauges; each sample moves every value."""

    def __init__(self, series: int) -> None:
        from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

        self.gauge_family, self.histogram_family = GaugeMetricFamily, HistogramMetricFamily
        self.routes = series * 4 // 5 // 15  # 15 series per histogram label set
        self.gauges = series - self.routes * 15
        self.tick = 0

    def __call__(self) -> list[Any]:
        self.tick += 1
        histogram = self.histogram_family("bench_duration_seconds", "d", labels=["route"])
        bounds = [str(b) for b in (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)]
        for route in range(self.routes):
            counts = [self.tick * (i + 1) * (route % 5 + 1) for i in range(len(bounds) + 1)]
            buckets = list(zip([*bounds, "+Inf"], counts, strict=True))
            histogram.add_metric([f"/r{route}"], buckets, sum_value=self.tick * 0.5)
        gauge = self.gauge_family("bench_gauge", "g", labels=["n"])
        for n in range(self.gauges):
            gauge.add_metric([str(n)], (self.tick * 7 + n) % 101)
        return [histogram, gauge]


def _clear_history() -> None:
    """Empty the history: on PostgreSQL the database outlives a child, and its sampler's
    lease with it."""
    from helpdesk.monitoring.history.models import Point, SamplerState, Series

    Point.objects.all().delete()
    Series.objects.all().delete()
    SamplerState.objects.all().delete()


def _timed_samples(
    families: Callable[[], list[Any]], samples: int, move: Callable[[], None] = lambda: None
) -> dict[str, float]:
    """Sample every 15 s (of a fake clock) after a baseline; return the CPU per sample and per
    read of ``families`` alone. ``move`` runs before each sample, untimed."""
    from helpdesk.monitoring.history.sampler import Sampler

    clock = [1_800_000_000.0]
    sampler = Sampler(families, clock=lambda: clock[0], owner="bench")
    for _ in range(3):  # the baseline, then the minutes that create the series rows
        move()
        sampler.sample()
        clock[0] += 60
    costs, reads = [], []
    for _ in range(samples):
        move()
        clock[0] += 15
        started = time.process_time()
        if not sampler.sample()["sampled"]:
            raise SystemExit("the sampler did not sample")
        costs.append((time.process_time() - started) * 1000)
        started = time.process_time()
        families()
        reads.append((time.process_time() - started) * 1000)
    return {"mean": statistics.mean(costs), "worst": max(costs), "read": statistics.mean(reads)}


def sampling(series: int, samples: int) -> dict[str, float]:
    # As `helpdesk worker` does before its loop: start-up objects out of the collector's sight.
    gc.freeze()
    return _timed_samples(Families(series), samples)


def app_sampling(samples: int) -> dict[str, float]:
    """Sample the product's own instruments as a busy server leaves them (busy_server.py).

    The folder holds what bench_metrics.py scrapes: 100 restarted workers compacted into the
    archive and the live workers' files; this process records every route again before each
    sample, so every value moves. The sampler reads what /metrics serves (``app_families``:
    the folder and the scrape-time collectors), as ``helpdesk worker`` does.
    """
    from busy_server import record_everything, routes, start_workers

    from helpdesk.gunicorn_conf import workers
    from helpdesk.monitoring.history.sampler import app_families
    from helpdesk.monitoring.metrics.multiprocess import worker_exited

    _clear_history()
    labels = routes()
    # This process is the last live worker.
    for pid in start_workers(labels, workers - 1):
        worker_exited(pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])
    gc.collect()
    gc.freeze()
    result = _timed_samples(app_families, samples, move=lambda: record_everything(labels))
    return {"series": sum(len(family.samples) for family in app_families()), **result}


def size(series: int, minutes: int) -> int:
    """Return bytes per day, from ``minutes`` of samples extrapolated to 24 h."""
    from django.db import connection

    from helpdesk.monitoring.history.sampler import Sampler

    _clear_history()

    def used() -> int:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA page_count")
                pages = cursor.fetchone()[0]
                cursor.execute("PRAGMA page_size")
                return int(pages * cursor.fetchone()[0])
            cursor.execute("VACUUM ANALYZE history_point")
            cursor.execute(
                "SELECT pg_total_relation_size('history_point')"
                " + pg_total_relation_size('history_series')"
            )
            return int(cursor.fetchone()[0])

    families = Families(series)
    clock = [1_800_000_000.0]
    sampler = Sampler(families, clock=lambda: clock[0], owner="bench-size")
    sampler.sample()
    clock[0] += 60
    sampler.sample()
    before = used()
    for _ in range(minutes * 4):
        clock[0] += 15
        sampler.sample()
    grown = used() - before
    # Per day: 1 440 minute rows per series, plus 24 hour rows (~1/60 more).
    return int(grown * 1440 / minutes * (1 + 1 / 60))


def chart(rounds: int) -> dict[str, float]:
    from helpdesk.monitoring.history import query as q
    from helpdesk.monitoring.history.models import Point, SamplerState, Series

    now = int(time.time()) // 60 * 60
    Point.objects.all().delete()
    Series.objects.all().delete()
    SamplerState.objects.update_or_create(pk=1, defaults={"checkpoint_at": now})
    rows = []
    for n in range(100):  # 6 charted series among 100 of the same family
        labels = {"http_route": f"/route/{n}", "http_response_status_code": "200"}
        series = Series.objects.create(
            key=f"bench{n}",
            name="http_server_request_duration_seconds_count",
            kind="counter",
            labels=labels,
            first_seen=now - 86400,
            last_seen=now,
        )
        rows += [
            Point(series=series, step=60, start=t, value=float((t // 60 + n) % 50 + 1))
            for t in range(now - 86400 - 300, now, 60)
        ]
    Point.objects.bulk_create(rows, batch_size=5000)
    six = 'http_server_request_duration_seconds_count{http_route=~"/route/[0-5]"}'
    question = q.rate(six, 300, by=["http_route"])
    backend = q.EmbeddedBackend()
    ids = list(Series.objects.filter(labels__http_route__regex=r"^/route/[0-5]$").values("id"))

    def chart_json() -> int:
        lines = backend.range(question, now - 86400, now, 60)
        body = json.dumps([{"labels": line.labels, "points": line.points} for line in lines])
        assert len(lines) == 6 and len(lines[0].points) == 1441
        return len(body)

    from django.test import Client

    from helpdesk.monitoring.console import charts

    charts.register(
        charts.Chart(
            "bench.six",
            "Six routes",
            "req/s",
            (charts.Series("{http_route}", lambda w: q.rate(six, w, by=["http_route"])),),
        )
    )
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    def endpoint() -> int:
        response = client.get("/api/v1/monitoring/console/charts/bench.six/?range=24h")
        data = response.json()
        assert response.status_code == 200 and len(data["series"]) == 6, response.content[:200]
        assert len(data["timestamps"]) == 1440
        return len(response.content)

    def bare_select() -> int:
        return len(
            list(
                Point.objects.filter(series_id__in=[i["id"] for i in ids], step=60)
                .filter(start__gte=now - 86400 - 300)
                .values_list("series_id", "start", "value")
            )
        )

    timings: dict[str, list[float]] = {"chart": [], "select": [], "endpoint": []}
    chart_json(), bare_select(), endpoint()
    for _ in range(rounds):  # interleaved, so the machine's noise falls on all three
        for name, function in (
            ("chart", chart_json),
            ("select", bare_select),
            ("endpoint", endpoint),
        ):
            started = time.perf_counter()
            function()
            timings[name].append((time.perf_counter() - started) * 1000)
    out = {}
    for name, samples in timings.items():
        samples.sort()
        out[f"{name}_p50"] = statistics.median(samples)
        out[f"{name}_p95"] = samples[int(len(samples) * 0.95) - 1]
    return out


def child(url: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        _setup(url or f"sqlite:///{data}/bench.sqlite3", data)
        result: dict[str, Any] = {"chart": chart(rounds)}
        result["sampling"] = sampling(5000, 40)
        result["size_per_day"] = size(1000, 10)
        print(json.dumps(result))


def app_child(url: str) -> None:
    with tempfile.TemporaryDirectory() as data:
        # Multiprocess mode, as under gunicorn: set before anything imports prometheus_client.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(data, "metrics")
        os.mkdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        _setup(url or f"sqlite:///{data}/bench.sqlite3", data)
        print(json.dumps(app_sampling(40)))


def _postgres(url: str, create: bool) -> bool:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                db.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        print(f"PostgreSQL part skipped: {error}".splitlines()[0])
        return False
    return True


def _run_child(*args: str) -> dict[str, Any]:
    """Run this script with ``args`` in a process of its own; return the JSON it printed."""
    output = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--app-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.rounds)
        return 0
    if args.app_child is not None:
        app_child(args.app_child)
        return 0
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    runs = [("SQLite", "")]
    if _postgres(url, create=True):
        runs.append(("PostgreSQL", url))
    try:
        for label, target in runs:
            result = _run_child("--child", target, "--rounds", str(args.rounds))
            c, s = result["chart"], result["sampling"]
            print(f"{label}")
            print(
                f"  chart JSON 24 h x 1 min x 6 series: p50 {c['chart_p50']:.1f} ms, "
                f"p95 {c['chart_p95']:.1f} ms (bare SELECT of the rows p95 "
                f"{c['select_p95']:.1f} ms; {c['chart_p95'] / c['select_p95']:.1f}x)"
            )
            print(
                f"  console chart endpoint (GET, 24 h x 1 min x 6 series): "
                f"p50 {c['endpoint_p50']:.1f} ms, p95 {c['endpoint_p95']:.1f} ms "
                f"({c['endpoint_p95'] / c['chart_p95']:.2f}x the query layer's chart JSON above)"
            )
            print(
                f"  sampling 5 000 series: {s['mean']:.1f} ms CPU per 15 s sample on average, "
                f"worst {s['worst']:.1f} ms (reading the registry alone {s['read']:.1f} ms; "
                f"{s['mean'] / s['read']:.1f}x)"
            )
            print(
                f"  size at 1 000 series, all changing every minute: "
                f"{result['size_per_day'] / 1e6:.0f} MB per day"
            )
            a = _run_child("--app-child", target)
            print(
                f"  sampling the app's own files, a busy server ({a['series']} series): "
                f"{a['mean']:.1f} ms CPU per 15 s sample on average, worst {a['worst']:.1f} ms "
                f"(reading them alone {a['read']:.1f} ms)"
            )
    finally:
        if len(runs) > 1:
            _postgres(url, create=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
