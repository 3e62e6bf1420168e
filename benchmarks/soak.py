"""Soak: the fault suite's stack under steady load, then a 2-minute database outage.

Runs tests/test_faults.py's stack (`helpdesk serve` with 2 workers x 2 threads, `helpdesk
worker`, PostgreSQL and Redis behind in-process TCP proxies, Slack/webhook/SMTP receivers),
keeps ``--threads`` request loops going (ticket list, /health/live, /health/ready, /metrics),
and reports:

- RSS of the gunicorn master, each gunicorn worker and the background worker, after the
  warm-up and at the end of the healthy phase (growth in %);
- the metrics folder's size and the rows of every table that grew, at the same two moments;
- notifications sent during the healthy phase (none expected);
- then the database refused for ``--outage-seconds`` through the proxy: DatabaseDown
  notifications per channel (one firing and one resolved expected) and the SLO report before
  and after.

Not in CI. The issue's run is 30 minutes (``--healthy-minutes 28``); the default is short.
Needs DATABASE_URL (PostgreSQL) and REDIS_URL. Example:

    nice .venv/bin/python benchmarks/soak.py --healthy-minutes 6 --outage-seconds 120
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_faults import (
    API_TOKEN,
    Load,
    Stack,
    _episodes,
    _names,
    _open,
    running_stack,
)


def processes(stack: Stack) -> dict[str, psutil.Process]:
    """Return the gunicorn master, its workers and the background worker by role."""
    master = psutil.Process(stack.server.pid)
    found = {"gunicorn master": master}
    for index, child in enumerate(sorted(master.children(), key=lambda p: p.pid)):
        found[f"gunicorn worker {index + 1}"] = child
    assert stack.worker is not None
    found["background worker"] = psutil.Process(stack.worker.pid)
    return found


def rss(stack: Stack) -> dict[str, int]:
    out = {}
    for role, process in processes(stack).items():
        try:
            out[role] = process.memory_info().rss
        except psutil.NoSuchProcess:
            out[role] = 0
    return out


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def table_rows(stack: Stack) -> dict[str, int]:
    with psycopg.connect(stack.worker_env["DATABASE_URL"], connect_timeout=5) as conn:
        rows = conn.execute("SELECT relname, n_live_tup FROM pg_stat_user_tables").fetchall()
    return {name: int(count) for name, count in rows}


def slo(stack: Stack) -> Any:
    response = requests.get(
        f"{stack.base}/api/v1/monitoring/slo/",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=30,
    )
    if not response.ok:
        return {"status": response.status_code}
    return {
        item["name"]: {key: item.get(key) for key in ("good", "total", "budget_remaining")}
        for item in response.json()["slos"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy-minutes", type=float, default=6.0)
    parser.add_argument("--warmup-minutes", type=float, default=1.0)
    parser.add_argument("--outage-seconds", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=3, help="extra request loops")
    args = parser.parse_args()
    print("load average at start:", psutil.getloadavg())
    with tempfile.TemporaryDirectory(prefix="helpdesk-soak-") as folder:
        tmp = Path(folder)
        with running_stack(tmp, scratch="soak") as stack:
            loops = [Load(stack.base, stack.api_token) for _ in range(args.threads)]
            for loop in loops:
                loop.start()
            try:
                run(stack, tmp, loops, args)
            finally:
                for loop in loops:
                    loop.stop()
    print("load average at end:", psutil.getloadavg())


def run(stack: Stack, tmp: Path, loops: list[Load], args: argparse.Namespace) -> None:
    metrics_dir = tmp / "prometheus-multiproc"
    time.sleep(args.warmup_minutes * 60)
    healthy = _open(stack, "healthy phase")
    rss_start, rows_start = rss(stack), table_rows(stack)
    folder_start = folder_bytes(metrics_dir)
    time.sleep(max(0.0, (args.healthy_minutes - args.warmup_minutes) * 60))
    rss_end, rows_end = rss(stack), table_rows(stack)
    folder_end = folder_bytes(metrics_dir)
    requests_made = sum(len(loop.samples) for loop in [stack.load, *loops])
    elapsed = time.monotonic() - healthy.started
    print(f"\nhealthy phase: {elapsed / 60:.1f} min after a {args.warmup_minutes} min warm-up")
    print(f"requests (all loops, whole run so far): {requests_made}")
    for role in rss_start:
        start, end = rss_start[role], rss_end.get(role, 0)
        growth = (end - start) / start * 100 if start else float("nan")
        print(f"  RSS {role}: {start / 2**20:.1f} -> {end / 2**20:.1f} MiB ({growth:+.1f} %)")
    print(f"  metrics folder: {folder_start / 1024:.0f} -> {folder_end / 1024:.0f} KiB")
    for name in sorted(rows_end):
        if rows_end[name] != rows_start.get(name, 0):
            print(f"  rows {name}: {rows_start.get(name, 0)} -> {rows_end[name]}")
    sent = {
        "slack": len(stack.slack.accepted) - healthy.slack_start,
        "webhook": len(stack.webhook.accepted) - healthy.webhook_start,
        "email": len(stack.smtp.messages) - healthy.mail_start,
    }
    print(f"  notifications during the healthy phase: {sent}")
    names = _names(stack)
    fired = [
        f"{names.get(item['headers'].get('Idempotency-Key', '').split(':')[0], '?')} "
        + item["headers"].get("Idempotency-Key", "").split(":")[1]
        for item in stack.webhook.accepted[healthy.webhook_start :]
    ]
    print(f"  of which on the webhook: {fired}")
    failed = [
        line.strip()[:200]
        for line in stack.worker_log.read_text(errors="replace").splitlines()
        if "probe" in line and "failed" in line
    ]
    print(f"  failed probe lines in the worker log: {len(failed)}", *failed[:3], sep="\n    ")
    statuses: dict[str, int] = {}
    for loop in [stack.load, *loops]:
        for sample in loop.since(healthy.started):
            statuses[str(sample.status)] = statuses.get(str(sample.status), 0) + 1
    print(f"  answers during the healthy phase: {statuses}")

    before = slo(stack)
    outage = _open(stack, "database outage")
    stack.pg.refuse()
    time.sleep(args.outage_seconds)
    stack.pg.repair()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        episodes = _episodes(stack, outage, "DatabaseDown")
        if all(episodes[c]["resolved"] >= 1 for c in ("slack", "webhook", "email")):
            break
        time.sleep(1)
    time.sleep(10)  # room for a duplicate
    time.sleep(70)  # the embedded history rolls whole minutes: let the outage's minutes in
    print(f"\ndatabase refused for {args.outage_seconds:.0f} s through the proxy")
    print(f"  DatabaseDown notifications per channel: {_episodes(stack, outage, 'DatabaseDown')}")
    print("  SLO report before the outage:", json.dumps(before))
    print("  SLO report after the outage: ", json.dumps(slo(stack)))


if __name__ == "__main__":
    main()
