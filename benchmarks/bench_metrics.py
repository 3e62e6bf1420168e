"""Benchmark the /metrics scrape of a multi-worker server after 100 worker restarts.

The workers are real: forked processes that record, through the product's own instruments
in prometheus_client's multiprocess mode, the series a busy server accumulates
(benchmarks/busy_server.py). RESTARTS workers exit one after the other and are handled as
gunicorn's ``child_exit`` hook does (``multiprocess.worker_exited``: live gauges dropped,
counters compacted into the archive); as many workers as gunicorn's configuration starts by
default (helpdesk.gunicorn_conf.workers) stay. The scrape is timed as /metrics does it:
``generate_latest`` over a registry holding ``MultiProcessReader`` (prometheus_client's
``MultiProcessCollector`` plus the archive), against prometheus_client's collector alone on the
same files left uncompacted (3 scrapes: they are slow).
Goal: <= 50 ms.

Run: .venv/bin/python benchmarks/bench_metrics.py [--quick]
"""

from __future__ import annotations

import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

QUICK = "--quick" in sys.argv
SCRAPES = 5 if QUICK else 15

_tmp = tempfile.mkdtemp(prefix="bench-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _tmp  # before anything imports prometheus_client
os.environ["HELPDESK_DATA_DIR"] = _tmp
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.pop("REDIS_URL", None)
os.environ["HELPDESK_ENV"] = "test"
os.environ["DJANGO_SETTINGS_MODULE"] = "helpdesk.settings"


def timed(work: Callable[[], bytes], scrapes: int = SCRAPES) -> tuple[float, float, float]:
    """Return (first call ms, median of the next ``scrapes`` calls: wall ms, CPU ms).

    The CPU time (this process's) moves less than the wall time when the machine is shared.
    """
    start = time.perf_counter()
    work()
    first = (time.perf_counter() - start) * 1000
    walls, cpus = [], []
    for _ in range(scrapes):
        start, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return first, statistics.median(walls), statistics.median(cpus)


def main() -> int:
    import django

    django.setup()
    from busy_server import RESTARTS, routes, start_workers
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from helpdesk.gunicorn_conf import workers as live_workers
    from helpdesk.monitoring.metrics.multiprocess import MultiProcessReader, worker_exited

    folder = tempfile.mkdtemp(prefix="mp-", dir=_tmp)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # the workers write here
    route_labels = routes()

    def ours() -> bytes:
        registry = CollectorRegistry()
        registry.register(MultiProcessReader(folder))
        return generate_latest(registry)

    def theirs() -> bytes:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
        return generate_latest(registry)

    dead = start_workers(route_labels, live_workers)
    series = sum(1 for line in ours().splitlines() if not line.startswith(b"#"))
    files = len(list(Path(folder).glob("*.db")))
    piled_first, piled, piled_cpu = timed(theirs, 3)
    for pid in dead:
        worker_exited(pid, folder)
    # As a gunicorn worker does once the app is loaded (gunicorn_conf.post_worker_init): the
    # start-up objects out of the garbage collector's sight.
    gc.collect()
    gc.freeze()
    kept = len(list(Path(folder).glob("*.db")))
    first, median, cpu = timed(ours)
    print(
        f"{len(route_labels)} routes: {series} series; "
        f"{live_workers} live workers + {RESTARTS} restarts; median of {SCRAPES} scrapes"
    )
    print(
        f"  prometheus_client MultiProcessCollector, files left as they pile up ({files} files):"
        f" {piled:8.1f} ms, CPU {piled_cpu:.1f} ms (first {piled_first:.1f})"
    )
    print(
        f"  MultiProcessReader, dead workers compacted ({kept} files + archive.json):"
        f" {median:8.1f} ms, CPU {cpu:.1f} ms (first {first:.1f})"
    )
    print(f"  goal <= 50 ms: {'met' if median <= 50 else 'NOT met'} (wall time)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
