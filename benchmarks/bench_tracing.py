"""Benchmark what tracing costs a real request: the ticket list under gunicorn, load from wrk.

Four `helpdesk serve` servers (gunicorn, production settings, one worker with four threads)
run side by side on one PostgreSQL database and one Redis, differing only in tracing:

- off-a and off-b: no OTLP endpoint (no SDK, no tracing middleware). Two identical servers:
  their ratio is the noise of this machine, the band "off is within noise" is judged against;
- ratio-0.1: OTEL_TRACES_SAMPLER_ARG=0.1, exporting to the local receiver;
- ratio-1.0: every request traced and exported to the local receiver.

The receiver is tests/otlp_receiver.py in this process: a real OTLP/HTTP endpoint decoding
every batch, as a collector on the same host would. The request is the ticket list (a page of
the organization's 20 tickets) with a bearer token. wrk drives one server at a time for
--seconds with four connections; the servers take turns within a round, in an order rotated
each round, so the load of the shared machine changes alike for all. Reported per server: the
median throughput over rounds and the median over rounds of each round's ratio to off-a
(paired), and the same for the workers' CPU time per request (from /proc: the steadiest
figure on a shared machine; it leaves out PostgreSQL's, Redis' and the receiver's CPU). Goal:
ratio 1.0 costs <= 10 % of throughput; off-b is within noise of off-a.

Run: REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python benchmarks/bench_tracing.py
     [--rounds 6] [--seconds 5]
(BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/helpdesk_bench_tracing, is
created and dropped.)
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from loadgen import cpu_seconds  # noqa: E402
from tests.otlp_receiver import otlp_receiver  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.web_server import serve  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/helpdesk_bench_tracing"
MODES = {"off-a": None, "off-b": None, "ratio-0.1": "0.1", "ratio-1.0": "1.0"}
HELPDESK = str(Path(sys.executable).with_name("helpdesk"))

_SEED = """
from django.contrib.auth import get_user_model
from helpdesk.accounts.models import ApiToken, Membership, Organization, Role
from helpdesk.tickets.models import Ticket
org = Organization.objects.create(name="Bench", slug="bench")
agent = get_user_model().objects.create_user("agent", "agent@example.com", "x" * 20)
customer = get_user_model().objects.create_user("cust", "cust@example.com", "x" * 20)
Membership.objects.create(user=agent, organization=org, role=Role.AGENT)
Membership.objects.create(user=customer, organization=org, role=Role.CUSTOMER)
for i in range(20):
    Ticket.objects.create(organization=org, requester=customer, subject=f"Printer {i} on fire",
                          description="It smokes. " * 20)
print(ApiToken.issue(agent)[1])
"""


def server_env(mode: str, data: Path, database: str, redis: str, receiver: str) -> dict[str, str]:
    """Return one production server's environment; tracing as ``mode`` says."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROMETHEUS_", "WEB_", "OTEL_", "DATABASE_URL"))
    }
    env.update(
        HELPDESK_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1",
        HELPDESK_DATA_DIR=str(data),
        DATABASE_URL=database,
        REDIS_URL=redis,
        CACHE_KEY_PREFIX=f"bench-{mode}",
        METRICS_TOKEN=secrets.token_urlsafe(32),
        WEB_CONCURRENCY="1",
        WEB_THREADS="4",
        # The rate limits are per client: wrk is one client sending thousands a minute.
        SECURITY_RATE_LIMIT_PER_MINUTE="10000000",
        LOG_LEVEL="WARNING",
    )
    ratio = MODES[mode]
    if ratio is not None:
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver,
            OTEL_TRACES_SAMPLER_ARG=ratio,
            OTEL_SERVICE_NAME=f"bench-{mode}",
        )
    return env


def wrk(url: str, token: str, seconds: float) -> tuple[float, int]:
    """Load ``url`` for ``seconds`` with four connections; return (requests/s, requests)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c4",
            f"-d{seconds:g}s",
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "X-Forwarded-Proto: https",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out:
        raise AssertionError(f"{url} answered errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    return rate, int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    args, _ = parser.parse_known_args()
    redis = os.environ.get("REDIS_URL", "")
    if not redis:
        print("bench_tracing: set REDIS_URL (a Redis database this benchmark may write to)")
        return 0
    database = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    import psycopg

    admin_url, _, name = database.rpartition("/")
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    tmp = Path(tempfile.mkdtemp(prefix="bench-tracing-"))
    try:
        with ExitStack() as stack:
            receiver = stack.enter_context(otlp_receiver(free_port(23200, 23249)))
            envs = {
                mode: server_env(mode, tmp / mode, database, redis, receiver.url) for mode in MODES
            }
            first = envs["off-a"]
            subprocess.run([HELPDESK, "migrate", "-v0"], env=first, check=True)
            token = subprocess.run(
                [HELPDESK, "shell", "-c", _SEED],
                env=first,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()[-1]
            urls, masters = {}, {}
            for index, mode in enumerate(MODES):
                server = stack.enter_context(
                    serve(
                        envs[mode],
                        free_port(23250 + 10 * index, 23259 + 10 * index),
                        stdout=tmp / f"{mode}.log",
                        ready="/health/live",
                    )
                )
                urls[mode] = f"{server.base}/api/v1/tickets/"
                masters[mode] = server.proc.pid
                wrk(urls[mode], token, 1.0)  # warm up: connections, caches
            rates: dict[str, list[float]] = {mode: [] for mode in MODES}
            cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
            order = list(MODES)
            for round_ in range(args.rounds):
                turn = order[round_ % len(order) :] + order[: round_ % len(order)]
                for mode in turn:
                    before = cpu_seconds(masters[mode])
                    rate, done = wrk(urls[mode], token, args.seconds)
                    rates[mode].append(rate)
                    cpu[mode].append((cpu_seconds(masters[mode]) - before) / done * 1000)
            spans = len(receiver.spans)
    finally:
        with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    load = os.getloadavg()
    print(f"ticket list, {args.rounds} rounds x {args.seconds:g} s per server, wrk -c4")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; spans received {spans}")
    print(
        f"{'server':<10} {'req/s':>8} {'ratio':>7} {'CPU ms/req':>11} {'ratio':>7}"
        "   (medians over rounds; ratios to off-a, paired per round)"
    )
    for mode in MODES:
        rate_ratio = [r / b for r, b in zip(rates[mode], rates["off-a"], strict=True)]
        cpu_ratio = [c / b for c, b in zip(cpu[mode], cpu["off-a"], strict=True)]
        print(
            f"{mode:<10} {statistics.median(rates[mode]):>8.1f} "
            f"{statistics.median(rate_ratio):>7.3f} {statistics.median(cpu[mode]):>11.2f} "
            f"{statistics.median(cpu_ratio):>7.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
