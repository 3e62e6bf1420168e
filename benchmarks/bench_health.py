"""Health endpoints under load and with a hung database, ours beside django-health-check's.

    python benchmarks/bench_health.py [--duration 10] [--connections 32] [--load-rounds 3]

One real gunicorn (`helpdesk serve`, 2 workers x 4 threads) per scenario, serving both our
endpoints and django-health-check 4.x's view (Database + Cache checks) mounted on the same app
(benchmarks/dhc_settings.py, dhc_urls.py):

1. Throughput and p99 latency with wrk (/usr/bin/wrk) against a healthy PostgreSQL
   (BENCH_DATABASE_URL, a scratch database created, migrated and dropped here) and Redis
   (BENCH_REDIS_URL when reachable): /health/live, /health/ready (default 2 s cache),
   /health/ready with HEALTH_CACHE_SECONDS=0 (single-flight only), django-health-check.
2. A hung database (a TCP socket that accepts and never answers): the time until each
   endpoint answers, first probe after a quiet period (median of --rounds), and the slowest of
   20 concurrent probes. Waits are bounded at --bound seconds ("> N s, still blocked").
Goals: /health/ready within deadline (2 s) + 100 ms on the hang; /health/live >= 2000 rps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import loadgen  # noqa: E402
from tests.services import port_open  # noqa: E402
from tests.tcp import Blackhole, closed_port  # noqa: E402
from tests.web_server import serve, server_env  # noqa: E402

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))
WRK = "/usr/bin/wrk"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/helpdesk_bench_health"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
DHC = "/health/dhc/?format=json"


def environment(database_url: str, redis_url: str, data: Path, **extra: str) -> dict[str, str]:
    settings = {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "dhc_settings",
        "PYTHONPATH": str(HERE),
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "4",
        **extra,
    }
    if redis_url:
        settings["REDIS_URL"] = redis_url
    return server_env(data, **settings)


@contextmanager
def running(env: dict[str, str]) -> Iterator[str]:
    """Run `helpdesk serve`; yield its base URL once every worker has answered."""
    data = Path(env["HELPDESK_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    with serve(env, closed_port(), stdout=data / "server.log", ready="/health/live") as server:
        # Every worker booted and answered once: figures are not about start-up.
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(timed_get, [server.base + "/health/live"] * 64, [5.0] * 64))
        yield server.base


def wrk(
    url: str, duration: int, connections: int, script: Path | None = None
) -> tuple[float, float, int]:
    """Return (requests/s, p99 ms, non-2xx/3xx responses) of a wrk run (``script``: a Lua
    request script)."""
    load = loadgen.wrk(url, duration, connections, script)
    return load.rps, load.p99_ms, load.non_2xx


def timed_get(url: str, bound: float) -> tuple[float, str]:
    """Return (seconds, outcome) of one GET, giving up after ``bound`` seconds."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=bound) as response:  # noqa: S310
            return time.monotonic() - started, str(response.status)
    except urllib.error.HTTPError as error:
        return time.monotonic() - started, str(error.code)
    except (TimeoutError, urllib.error.URLError, OSError):
        return time.monotonic() - started, "blocked"


def fmt(seconds: float, outcome: str, bound: float) -> str:
    if outcome == "blocked":
        return f"> {bound:.0f} s, still blocked"
    return f"{outcome} in {seconds:.2f} s"


def prepare_database(url: str, env: dict[str, str]) -> None:
    import psycopg

    parts = urlparse(url)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{parts.path.lstrip("/")}"')
    subprocess.run([HELPDESK, "migrate", "-v0"], env=env, check=True)


def drop_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def load(args: argparse.Namespace, database_url: str, redis_url: str, data: Path) -> None:
    print(
        f"1. Under load: wrk -t2 -c{args.connections} -d{args.duration}s, "
        "gunicorn 2 workers x 4 threads"
    )
    runs: dict[str, list[tuple[float, float, int]]] = {}
    # One fresh server per contender (same app, same settings): django-health-check's event
    # loops and executor threads must not weigh on our endpoints' figures, nor ours on its.
    contenders = [
        (
            {},
            [
                ("ours /health/live", "/health/live"),
                ("ours /health/ready (2 s cache)", "/health/ready"),
            ],
        ),
        ({}, [("django-health-check 4 (DB+cache)", DHC)]),
        ({"HEALTH_CACHE_SECONDS": "0"}, [("ours /health/ready (no cache)", "/health/ready")]),
    ]
    for extra, endpoints in contenders:
        with running(environment(database_url, redis_url, data, **extra)) as base:
            wrk(base + endpoints[-1][1], 2, args.connections)  # warm-up
            # Interleaved rounds: a neighbour's burst on the shared machine hits both.
            for _ in range(args.load_rounds):
                for label, path in endpoints:
                    figures = wrk(base + path, args.duration, args.connections)
                    runs.setdefault(label, []).append(figures)
    # The median round by throughput, with that round's p99.
    rows = [(label, *sorted(r)[len(r) // 2]) for label, r in runs.items()]
    dhc_rps = rows[2][1]
    print(f"  median of {args.load_rounds} interleaved rounds")
    print(f"  {'endpoint':36} {'req/s':>9} {'p99 ms':>9} {'errors':>7} {'vs dhc':>7}")
    for label, rps, p99, bad in rows:
        print(f"  {label:36} {rps:9.0f} {p99:9.1f} {bad:7d} {rps / dhc_rps:6.1f}x")


def hung(args: argparse.Namespace, redis_url: str, data: Path) -> None:
    print("2. Database hung (accepts TCP, never answers); deadline 2.0 s")
    with Blackhole() as hole:
        url = f"postgres://postgres@127.0.0.1:{hole.port}/helpdesk"
        with running(environment(url, redis_url, data)) as base:
            for label, path in [
                ("ours /health/ready", "/health/ready"),
                ("django-health-check", DHC),
            ]:
                firsts = []
                for _ in range(args.rounds):
                    # Quiet period: the cache expired and no earlier probe is still stuck.
                    time.sleep(args.quiet)
                    firsts.append(timed_get(base + path, args.bound))
                seconds = statistics.median(s for s, _ in firsts)
                outcomes = sorted({o for _, o in firsts})
                print(f"  {label:22} first probe: {fmt(seconds, '/'.join(outcomes), args.bound)}")
                time.sleep(args.quiet)
                with ThreadPoolExecutor(20) as pool:
                    urls = [base + path] * 20
                    storm = list(pool.map(timed_get, urls, [args.bound] * 20))
                slowest = max(storm)
                blocked = sum(1 for _, o in storm if o == "blocked")
                note = f" ({blocked} of 20 still blocked at {args.bound:.0f} s)" if blocked else ""
                print(
                    f"  {label:22} 20 concurrent, slowest: "
                    f"{fmt(slowest[0], slowest[1], args.bound)}{note}"
                )
                time.sleep(args.quiet)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-rounds", type=int, default=3)
    parser.add_argument("--bound", type=float, default=15.0)
    parser.add_argument("--quiet", type=float, default=7.0)
    args = parser.parse_args()
    if not os.path.exists(WRK):
        print(f"skipped: {WRK} is not installed")
        return 0
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    if not port_open("127.0.0.1", urlparse(redis_url).port or 6379):
        redis_url = ""
    data = Path(os.environ.get("BENCH_DATA_DIR", "/tmp/bench-health-data"))  # noqa: S108
    print(f"PostgreSQL {urlparse(database_url).port or 5432}, cache: {redis_url or 'locmem'}")
    prepare_database(database_url, environment(database_url, redis_url, data))
    try:
        load(args, database_url, redis_url, data)
    finally:
        drop_database(database_url)
    hung(args, redis_url, data)
    return 0


if __name__ == "__main__":
    threading.excepthook = lambda hook_args: None  # blackhole threads end with the process
    sys.exit(main())
