"""Benchmark browser monitoring: Web Vitals ingestion through the analytics endpoint, and the
size of the browser SDK against the official Sentry browser SDK.

1. Ingestion: the real web server (`helpdesk serve`: gunicorn, 2 workers x 4 threads) on
   PostgreSQL and Redis (the scaled setup), loaded with wrk (/usr/bin/wrk) posting as browsers
   do (text/plain, an allowed Origin). Three request kinds, side by side in interleaved rounds:
   the SDK's batch of 20 Web Vitals, the spec's page-load payload (3 figures), and an empty
   batch (the endpoint's fixed cost: Origin check, rate counter, body, JSON, no observation).
   Two concurrencies: 2 connections (latency: fewer requests than server threads) and 8
   (throughput: one per server thread). Reported: measurements/s, requests/s and p99 latency
   (medians over the rounds), and the
   server's CPU time per request (its workers' user + system time over the requests served),
   which holds still when other work shares the machine: 2 cores / CPU per request is what
   the server would take on an idle 2-core machine. Goals: ≥ 5 000 measurements/s in batches
   of 20, p99 < 50 ms.
2. Size: gzipped bundles built alike by esbuild (benchmarks/sdk_sizes.mjs): monitor.js with
   web-vitals' attribution build inside, against @sentry/browser with init() and with its
   smallest documented setup. Goal: monitor.js ≤ 9 KB.

Run: .venv/bin/python benchmarks/bench_browser.py [--quick] [--duration S] [--rounds N]
     [--connections 2,8]
(make frontend first. Without DATABASE_URL the PostgreSQL database DEFAULT_DB is created for the
run and dropped; REDIS_URL overrides DEFAULT_REDIS.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from loadgen import scratch_database, wrk  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.web_server import migrate, serve, server_env  # noqa: E402

Figures = tuple[float, float, int, float]
NODE = str(Path(sys.executable).with_name("node"))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/helpdesk_browser"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
ROUTES = ["/tickets", "/tickets/:id", "/dashboard"]
AGENTS = {
    "desktop": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36",
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148",
}


def vitals(count: int) -> list[dict[str, object]]:
    names = ["LCP", "INP", "CLS", "FCP", "TTFB"]
    values = {"LCP": 2300.0, "INP": 180.0, "CLS": 0.07, "FCP": 1200.0, "TTFB": 420.0}
    return [
        {
            "name": names[i % 5],
            "value": values[names[i % 5]] * (0.5 + (i % 7) / 6),
            "id": f"v6-1764892800000-{i}",
            "rating": "good",
            "navigationType": "navigate",
        }
        for i in range(count)
    ]


def bodies(base: str) -> dict[str, tuple[str, int]]:
    """Return kind -> (request body, measurements it carries). sentAt is now: a run must end
    within BROWSER_MAX_BATCH_AGE_SECONDS (raised for the benchmark)."""
    now = int(time.time() * 1000)
    page = f"{base}/tickets/42"
    return {
        "SDK batch of 20 vitals": (
            json.dumps({"sentAt": now, "page": page, "route": ROUTES[1], "vitals": vitals(20)}),
            20,
        ),
        "spec page load (3 figures)": (
            json.dumps({"domContentLoaded": 180.5, "loadComplete": 12.2, "totalTime": 1450.0}),
            3,
        ),
        "empty batch (fixed cost)": (json.dumps({"sentAt": now, "page": page}), 0),
    }


def lua(path: Path, body: str, origin: str, agent: str) -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{body}]==]\n"
        'wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"\n'
        f'wrk.headers["Origin"] = "{origin}"\n'
        f'wrk.headers["Referer"] = "{origin}/tickets/42"\n'
        f'wrk.headers["User-Agent"] = "{agent}"\n'
    )
    return path


def server_cpu(master: int) -> float:
    """Return the CPU seconds (user + system) the server's processes have used so far."""
    import psutil

    processes = [psutil.Process(master), *psutil.Process(master).children(recursive=True)]
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def measure(url: str, script: Path, duration: int, connections: int, master: int) -> Figures:
    """Return (requests/s, p99 ms, non-2xx responses, server CPU ms per request) of a run."""
    cpu = server_cpu(master)
    load = wrk(url, duration, connections, script)
    cpu_ms = (server_cpu(master) - cpu) * 1000 / max(load.requests, 1)
    return load.rps, load.p99_ms, load.non_2xx, cpu_ms


def ingestion(args: argparse.Namespace) -> None:
    if os.environ.get("DATABASE_URL"):
        measure_ingestion(args, os.environ["DATABASE_URL"])
    else:  # a scratch database of its own
        with scratch_database(DEFAULT_DB):
            measure_ingestion(args, DEFAULT_DB)


def measure_ingestion(args: argparse.Namespace, database: str) -> None:
    """Run the ingestion rounds against a server on ``database`` and print the table."""
    data = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    env = server_env(
        data,
        DATABASE_URL=database,
        REDIS_URL=os.environ.get("REDIS_URL") or DEFAULT_REDIS,
        LOG_LEVEL="WARNING",
        WEB_CONCURRENCY="2",
        WEB_THREADS="4",
        BROWSER_ROUTES=",".join(ROUTES),
        BROWSER_RATE_LIMIT_PER_MINUTE=str(10**9),
        BROWSER_MAX_BATCH_AGE_SECONDS="3600",
        SECURITY_RATE_LIMIT_PER_MINUTE=str(10**9),
    )
    migrate(env)
    port = free_port(24000, 24499)
    with serve(env, port, stdout=data / "server.log") as server:
        url = f"{server.base}/api/v1/analytics/performance/"
        kinds = bodies(server.base)
        scripts = {
            kind: lua(data / f"{index}.lua", body, server.base, AGENTS["desktop"])
            for index, (kind, (body, _)) in enumerate(kinds.items())
        }
        for script in scripts.values():
            wrk(url, 2, 8, script)  # warm-up: every worker, every label child
        master = server.proc.pid
        for connections in args.connections:
            # Rounds interleave the kinds, so the machine's other load falls on each alike.
            results: dict[str, list[Figures]] = {kind: [] for kind in kinds}
            for _ in range(args.rounds):
                for kind, script in scripts.items():
                    figures = measure(url, script, args.duration, connections, master)
                    results[kind].append(figures)
            report(results, kinds, connections, args)


def report(
    results: dict[str, list[Figures]],
    kinds: dict[str, tuple[str, int]],
    connections: int,
    args: argparse.Namespace,
) -> None:
    print(
        f"\n1. Ingestion: wrk -t2 -c{connections} -d{args.duration}s, {args.rounds} interleaved "
        "rounds, medians (PostgreSQL + Redis, 2 workers x 4 threads)\n"
    )
    print(
        "| Request | measurements/s | requests/s | p99 ms | non-2xx | server CPU ms/request "
        "| measurements/s on 2 idle cores |"
    )
    print("|---|---|---|---|---|---|---|")
    cpu: dict[str, float] = {}
    for kind, runs in results.items():
        rps = statistics.median(r[0] for r in runs)
        p99 = statistics.median(r[1] for r in runs)
        bad = sum(r[2] for r in runs)
        cpu[kind] = statistics.median(r[3] for r in runs)
        per_request = kinds[kind][1]
        capacity = 2000 / cpu[kind] * per_request
        print(
            f"| {kind} | {rps * per_request:,.0f} | {rps:,.0f} | {p99:.1f} | {bad} "
            f"| {cpu[kind]:.2f} | {capacity:,.0f} |"
        )
    extra = cpu["SDK batch of 20 vitals"] - cpu["empty batch (fixed cost)"]
    print(
        f"\n20 measurements add {extra:.2f} ms of CPU to the request "
        f"({extra / 20 * 1000:.0f} µs each); load average at the end: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
    )


def sizes() -> None:
    out = subprocess.run(
        [NODE, str(HERE / "sdk_sizes.mjs")], capture_output=True, text=True, check=True
    ).stdout
    table = json.loads(out)
    ours = next(v["gzip"] for k, v in table.items() if k.startswith("monitor.js"))
    print("\n2. Size (esbuild, minified, gzip -9)\n")
    print("| Bundle | bytes | gzip bytes | gzip vs monitor.js |")
    print("|---|---|---|---|")
    for name, size in table.items():
        print(f"| {name} | {size['raw']:,} | {size['gzip']:,} | {size['gzip'] / ours:.2f}x |")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--connections",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[2, 8],
        help="wrk connections, comma-separated: one table each (default 2,8)",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 3, 1
    sizes()
    ingestion(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
