"""Alerting benchmarks: fault to first notification, and outbox throughput.

1. Fault to first notification on the embedded path, with the default intervals (evaluation
   every 15 s, delivery every 1 s): a worker watches a real Redis (REDIS_URL); the benchmark
   kills Redis at a random moment and times until the Slack-compatible receiver gets the
   FIRING message, then restarts Redis and waits for RESOLVED. Goal: <= 30 s.
2. Outbox throughput with a slow receiver (each request takes --delay seconds): the same
   backlog delivered by 1, 2 and 4 workers side by side; ratios against one worker.

Run: .venv/bin/python benchmarks/bench_alerting.py [--cycles 3] [--backlog 200] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.receivers import HttpReceiver

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERT", "REDIS", "DATABASE"))}
    env.update(
        HELPDESK_DATA_DIR=str(data),
        DATABASE_URL=f"sqlite:///{data / 'bench.sqlite3'}",
        HELPDESK_ENV="test",
        OUTBOUND_ALLOW_PRIVATE_IPS="1",
        LOG_LEVEL="ERROR",
    )
    env.update(extra)
    return env


def helpdesk(env: dict[str, str], *args: str) -> None:
    subprocess.run([HELPDESK, *args], env=env, check=True, capture_output=True)


def start_redis(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def wait_for(receiver: HttpReceiver, word: str, count: int, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        titles = [item["json"]["attachments"][0]["title"] for item in receiver.accepted]
        if sum(word in title for title in titles) >= count:
            return time.monotonic()
        time.sleep(0.05)
    return None


def fault_to_notification(cycles: int) -> list[float]:
    if shutil.which("redis-server") is None:
        print("  skipped: redis-server is not installed")
        return []
    data = Path(tempfile.mkdtemp(prefix="bench-alerting-"))
    port = free_port()
    redis = start_redis(port)
    figures: list[float] = []
    with HttpReceiver() as receiver:
        env = base_env(
            data, REDIS_URL=f"redis://127.0.0.1:{port}/0", ALERT_SLACK_WEBHOOK_URL=receiver.url
        )
        helpdesk(env, "migrate", "--no-input")
        worker = subprocess.Popen(
            [HELPDESK, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(3)  # the first evaluation ran: the fault lands at a random phase
            for cycle in range(1, cycles + 1):
                time.sleep(random.uniform(0, 15))
                redis.kill()
                redis.wait()
                broke = time.monotonic()
                arrived = wait_for(receiver, "[FIRING", cycle, 90)
                if arrived is None:
                    print(f"  cycle {cycle}: no notification within 90 s")
                    break
                figures.append(arrived - broke)
                redis = start_redis(port)
                healed = time.monotonic()
                resolved = wait_for(receiver, "[RESOLVED", cycle, 120)
                print(
                    f"  cycle {cycle}: FIRING after {arrived - broke:5.1f} s, RESOLVED "
                    f"{(resolved or float('nan')) - healed:5.1f} s after Redis came back"
                )
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            redis.kill()
            redis.wait()
    shutil.rmtree(data, ignore_errors=True)
    return figures


BACKLOG = """
from helpdesk.monitoring.alerting import channels, services
channels.sync_from_settings()
for i in range({n}):
    services.fire(name="Load", labels={{"alertname": "Load", "instance": str(i)}})
"""


def throughput(workers: int, backlog: int, delay: float) -> float:
    data = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    with HttpReceiver(delay=delay) as receiver:
        env = base_env(
            data, ALERT_SLACK_WEBHOOK_URL=receiver.url, WORKER_DELIVERY_INTERVAL_SECONDS="0.1"
        )
        helpdesk(env, "migrate", "--no-input")
        helpdesk(env, "shell", "-c", BACKLOG.format(n=backlog))
        start = time.monotonic()
        processes = [
            subprocess.Popen(
                [HELPDESK, "worker", "--no-evaluate", "--batch", "10"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            while len(receiver.accepted) < backlog and time.monotonic() - start < 300:
                time.sleep(0.05)
            elapsed = time.monotonic() - start
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=30)
        with sqlite3.connect(data / "bench.sqlite3") as conn:
            sent = conn.execute("SELECT count(*) FROM alerting_notification WHERE status='sent'")
            assert sent.fetchone()[0] >= len(receiver.keys())
        duplicates = len(receiver.accepted) - len(receiver.keys())
    shutil.rmtree(data, ignore_errors=True)
    rate = backlog / elapsed
    print(
        f"  {workers} worker(s): {backlog} notifications in {elapsed:5.1f} s = {rate:6.1f}/s "
        f"(duplicates {duplicates})"
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.05)
    args, _ = parser.parse_known_args()
    print("Fault to first notification (embedded evaluator, default intervals, Redis killed):")
    figures = fault_to_notification(args.cycles)
    if figures:
        print(
            f"  median {sorted(figures)[len(figures) // 2]:.1f} s, worst {max(figures):.1f} s "
            f"(goal <= 30 s: {'met' if max(figures) <= 30 else 'MISSED'})"
        )
    print(f"Outbox throughput, receiver answering in {args.delay * 1000:.0f} ms:")
    rates = {n: throughput(n, args.backlog, args.delay) for n in (1, 2, 4)}
    for n in (2, 4):
        print(f"  {n} workers / 1 worker = {rates[n] / rates[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
