"""Error ingestion: events/s and p99 through the Sentry envelope endpoint, database and memory
growth per 100 000 events of 1 000 distinct errors, beside a health probe of the same server.

    python benchmarks/bench_errors.py [--events 100000] [--duration 15] [--health-duration 5]

One real gunicorn (`helpdesk serve`, 2 workers x 4 threads) on PostgreSQL (BENCH_DATABASE_URL,
a scratch database created, migrated and dropped here) and Redis (BENCH_REDIS_URL). wrk posts
browser-sized envelopes (about 2.3 KB: a TypeError with 6 frames, breadcrumbs, request,
contexts, a user among 500) drawn at random from 1 000 distinct errors, so every request is
parsed, scrubbed, grouped, counted and (up to ERRORS_SAMPLES_PER_HOUR, default 5, per issue
and hour) stored. Rounds alternate envelopes and /health/live (the cheapest request the app
serves) until --events envelopes were ingested, so a neighbour's burst hits both. The
project's rate limit is lifted (ERRORS_RATE_LIMIT_PER_MINUTE=0) to measure ingestion itself.

Reported: events/s and p99 per round and their medians, the ratio to /health/live; the web
workers' CPU seconds per event (user + system of every thread, so the write-behind thread too,
over the envelope rounds): the figure that moves least with the neighbours' load; database
growth (pg_database_size and the error tables) and stored rows after the run, scaled to 100 000
events; RSS of each web worker at the start, after a 2-second warm-up of envelopes (the
first ones load the ingestion code and fill its caches) and at the end. Goals (issue 17):
>= 500 events/s, p99 < 50 ms, <= 50 MB per 100 000 events, <= 20 MB RSS growth per worker.
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
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_health import drop_database, prepare_database, wrk  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.web_server import serve, server_env  # noqa: E402

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/helpdesk_bench_errors"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
TABLES = (
    "errors_project",
    "errors_errorissue",
    "errors_errorevent",
    "errors_issuehour",
    "errors_issueuser",
    "errors_projectminute",
)

# The event of error number N (0..999): its own function names, so 1 000 fingerprints; a
# varying message tail and user so normalising and counting users do real work.
EVENT = {
    "platform": "javascript",
    "level": "error",
    "release": "helpdesk-web@2.4.1",
    "environment": "production",
    "exception": {
        "values": [
            {
                "type": "TypeError",
                "value": "Cannot read properties of undefined (reading 'field__N__')",
                "mechanism": {"type": "onerror", "handled": False},
                "stacktrace": {
                    "frames": [
                        {
                            "filename": f"https://helpdesk.example.org/static/app.3f2a1b9c.js?v={i}",
                            "abs_path": f"https://helpdesk.example.org/static/app.3f2a1b9c.js?v={i}",
                            "function": name,
                            "lineno": 10 + i * 7,
                            "colno": 13 + i,
                            "in_app": True,
                        }
                        for i, name in enumerate(
                            [
                                "HTMLButtonElement.onClick",
                                "dispatch",
                                "TicketList.render__N__",
                                "renderRow__N__",
                                "formatRequester",
                                "readField__N__",
                            ]
                        )
                    ]
                },
            }
        ]
    },
    "breadcrumbs": {
        "values": [
            {"timestamp": 1764900000 + i, "category": c, "message": m, "level": "info"}
            for i, (c, m) in enumerate(
                [
                    ("navigation", "/tickets/ -> /tickets/4711/"),
                    ("ui.click", "button#assign"),
                    ("xhr", "GET /api/v1/tickets/4711/ [200]"),
                    ("ui.input", "input#comment"),
                    ("xhr", "POST /api/v1/tickets/4711/comments/ [201]"),
                ]
            )
        ]
    },
    "request": {
        "url": "https://helpdesk.example.org/tickets/4711/?tab=history",
        "headers": {
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
            "Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Referer": "https://helpdesk.example.org/tickets/",
        },
    },
    "contexts": {
        "browser": {"name": "Chrome", "version": "131.0.0"},
        "os": {"name": "Linux"},
        "device": {"family": "Desktop"},
    },
    "tags": {"route": "/tickets/<int:pk>/", "locale": "en-US"},
    "user": {"id": "user-__U__"},
    "sdk": {"name": "sentry.javascript.browser", "version": "8.45.0"},
}

LUA = """
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
local template = [==[__BODY__]==]
request = function()
  local n = tostring(math.random(0, 999))
  local u = tostring(math.random(0, 499))
  local body = template:gsub("__N__", n):gsub("__U__", u)
  return wrk.format("POST", nil, {["Content-Type"] = "text/plain;charset=UTF-8"}, body)
end
"""


def envelope_template() -> str:
    event = json.dumps(EVENT, separators=(",", ":"))
    head = json.dumps({"sent_at": "2026-12-05T00:00:00Z"})
    return f'{head}\n{{"type":"event"}}\n{event}\n'


def psql(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-Atc", sql], capture_output=True, text=True, check=True
    ).stdout.strip()


def sizes(url: str) -> tuple[int, int]:
    """Return (database bytes, error tables bytes with indexes and TOAST)."""
    tables = ", ".join(f"pg_total_relation_size('{t}')" for t in TABLES)
    database = int(psql(url, "SELECT pg_database_size(current_database())"))
    return database, int(psql(url, f"SELECT {' + '.join(tables.split(', '))}"))


def worker_rss(master: int) -> dict[int, int]:
    """Return the RSS in bytes of each child (web worker) of a gunicorn master."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    rss = {}
    for pid in map(int, children):
        status = Path(f"/proc/{pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        rss[pid] = int(kib) * 1024
    return rss


def worker_cpu(master: int) -> float:
    """Return the CPU seconds (user + system, every thread) the web workers of a gunicorn
    master have used: unlike events/s, it hardly moves with the neighbours' load."""
    total = 0
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:  # noqa: PLR0915 - one straight script
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--health-duration", type=int, default=5)
    parser.add_argument("--ports", default="23500-23999", help="range to pick the port from")
    args = parser.parse_args()
    low, high = map(int, args.ports.split("-"))
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        env = server_env(
            data / "data",
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            LOG_LEVEL="WARNING",
            WEB_CONCURRENCY="2",
            WEB_THREADS="4",
            ERRORS_RATE_LIMIT_PER_MINUTE="0",
        )
        prepare_database(database_url, env)
        try:
            port = free_port(low, high)
            base = f"http://127.0.0.1:{port}"
            dsn = subprocess.run(
                [HELPDESK, "errors-project", "bench", "--base-url", base],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            key = urlparse(dsn).username
            project = urlparse(dsn).path.strip("/")
            script = data / "envelope.lua"
            script.write_text(LUA.replace("__BODY__", envelope_template()))
            envelope_url = f"{base}/api/{project}/envelope/?sentry_key={key}&sentry_version=7"
            print(
                f"gunicorn 2 workers x 4 threads, PostgreSQL, wrk -t2 -c{args.connections} "
                f"-d{args.duration}s; envelope {len(envelope_template())} bytes, "
                "1 000 distinct errors, 500 users"
            )
            with serve(env, port, stdout=data / "server.log", ready="/health/live") as server:
                wrk(base + "/health/live", 2, args.connections)
                rss_start = worker_rss(server.proc.pid)
                # Warm-up: the first envelopes load the ingestion code and fill its caches,
                # once per worker. Growth is measured from here (and reported from the start).
                wrk(envelope_url, 2, args.connections, script=script)
                time.sleep(1)
                db_before, tables_before = sizes(database_url)
                rss_before = worker_rss(server.proc.pid)
                ingest: list[tuple[float, float, int]] = []
                health: list[tuple[float, float, int]] = []
                done = 0
                cpu = 0.0
                while done < args.events:
                    cpu_before = worker_cpu(server.proc.pid)
                    ingest.append(wrk(envelope_url, args.duration, args.connections, script=script))
                    time.sleep(1)  # the write-behind threads write what is queued
                    cpu += worker_cpu(server.proc.pid) - cpu_before
                    health.append(
                        wrk(base + "/health/live", args.health_duration, args.connections)
                    )
                    done = int(
                        psql(
                            database_url,
                            "SELECT coalesce(sum(event_count), 0) FROM errors_errorissue",
                        )
                    )
                    rps, p99, bad = ingest[-1]
                    print(
                        f"  round {len(ingest)}: {rps:7.0f} events/s p99 {p99:6.1f} ms, "
                        f"{bad} non-2xx; /health/live {health[-1][0]:7.0f} req/s "
                        f"p99 {health[-1][1]:6.1f} ms; {done} events so far",
                        flush=True,
                    )
                rss_after = worker_rss(server.proc.pid)
            db_after, tables_after = sizes(database_url)
            issues = int(psql(database_url, "SELECT count(*) FROM errors_errorissue"))
            stored = int(psql(database_url, "SELECT count(*) FROM errors_errorevent"))
            rps = statistics.median(r for r, _, _ in ingest)
            p99 = statistics.median(p for _, p, _ in ingest)
            health_rps = statistics.median(r for r, _, _ in health)
            scale = 100_000 / done
            print(
                f"Ingestion: median {rps:.0f} events/s (goal >= 500), p99 {p99:.1f} ms "
                f"(goal < 50); /health/live {health_rps:.0f} req/s: an event costs "
                f"{health_rps / rps:.1f}x a liveness probe"
            )
            print(f"Stored: {done} events in {issues} issues, {stored} sample events kept")
            print(
                f"Web worker CPU: {cpu:.1f} s for {done} events = {cpu / done * 1000:.2f} ms "
                f"per event (request and write-behind; PostgreSQL's not counted): at most "
                f"{done / cpu:.0f} events/s per core the workers get"
            )
            print(
                f"Database growth: {(db_after - db_before) / 1e6:.1f} MB whole database, "
                f"{(tables_after - tables_before) / 1e6:.1f} MB error tables for {done} "
                f"events = {(db_after - db_before) * scale / 1e6:.1f} MB per 100 000 "
                "(goal <= 50 MB)"
            )
            for table in TABLES:
                rows = psql(database_url, f"SELECT count(*) FROM {table}")  # noqa: S608
                size = psql(database_url, f"SELECT pg_total_relation_size('{table}')")
                print(f"  {table:22} {int(rows):8d} rows {int(size) / 1e6:8.1f} MB")
            for pid, before in sorted(rss_before.items()):
                start, after = rss_start.get(pid, before), rss_after.get(pid, before)
                print(
                    f"RSS worker {pid}: {start / 1e6:.1f} MB at start, {before / 1e6:.1f} MB "
                    f"after the warm-up -> {after / 1e6:.1f} MB "
                    f"(+{(after - before) / 1e6:.1f} MB after the warm-up, goal <= 20 MB; "
                    f"+{(after - start) / 1e6:.1f} MB from the start)"
                )
        finally:
            drop_database(database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
