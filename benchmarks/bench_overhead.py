"""Benchmark what monitoring costs a real request: the ticket API under gunicorn, load from wrk.

Three servers run side by side, each `helpdesk serve` (gunicorn with the production worker
settings of helpdesk/gunicorn_conf.py, HELPDESK_ENV=production) on one PostgreSQL database and
one Redis, differing only in monitoring (benchmarks/overhead_settings.py):

- full: the product as shipped: metrics (multiprocess files), the access log written to a file
  (the server's stdout, as a container runtime collects it), the security middleware, the
  instrumented cache backends and query timer;
- off: every monitoring middleware removed, Django's own cache backends, no query timer;
- django-prometheus: off plus django-prometheus' middleware pair.

Two requests, each with a bearer token: the ticket list (a page of the organization's 20
tickets) and one ticket's detail. wrk drives one server and one request at a time for
--seconds, with as many connections as a server has threads in all, each closed and reopened
every 25th request (recycle.lua: else one worker may keep too few connections for its threads
and idle for a whole run); the servers take turns
within a round, in an order rotated each round, so the load of the shared machine changes
alike for all three. Reported per request: the median over rounds of throughput, p99 latency
and the workers' CPU time per request (from /proc; the steadiest of the three on a shared
machine, but it leaves out PostgreSQL's and Redis' own CPU), and the median over rounds of
each round's ratio to "off" (paired). Goal: full monitoring costs <= 5 % of throughput and
<= 5 % of p99, and less than django-prometheus.

--profile samples the full and the django-prometheus servers' workers with py-spy (``--gil``:
the thread running Python code, so the shares are of CPU, not of time spent waiting on
sockets) during one more run of the ticket list each and prints the share of the request
samples spent in each monitoring module.

With BENCH_BASELINE_SRC set to the ``src`` folder of another checkout (say, of the previous
commit), a fourth server, "full@baseline", runs that code with full monitoring in the same
rounds: an interleaved A/B of a change to the monitoring code.

Run: REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python benchmarks/bench_overhead.py
     [--rounds 10] [--seconds 5] [--profile] [--quick]
(BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/helpdesk_bench_overhead,
is created and dropped; the servers listen on free ports from BENCH_PORT_BASE, default 22000,
to BENCH_PORT_BASE + 499.)
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from loadgen import cpu_seconds, scratch_database  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.web_server import serve  # noqa: E402

BASELINE_SRC = os.environ.get("BENCH_BASELINE_SRC")
MODES = ("off", "full", "django-prometheus") + (("full@baseline",) if BASELINE_SRC else ())
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "22000"))
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/helpdesk_bench_overhead"
TICKETS = 20


def server_env(mode: str, data: Path, database: str, redis: str) -> dict[str, str]:
    """Return the environment of one production server with ``mode`` monitoring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "WEB_"))}
    env.update(
        {
            "HELPDESK_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "HELPDESK_DATA_DIR": str(data),
            "DATABASE_URL": database,
            "REDIS_URL": redis,
            "CACHE_KEY_PREFIX": f"bench-{mode.replace('@', '-')}",
            "METRICS_TOKEN": secrets.token_urlsafe(32),
            "DJANGO_SETTINGS_MODULE": "overhead_settings",
            "BENCH_MONITORING": mode.removesuffix("@baseline"),
            "PYTHONPATH": os.pathsep.join(
                [
                    str(HERE),
                    (BASELINE_SRC or "")
                    if mode.endswith("@baseline")
                    else str(HERE.parent / "src"),
                ]
            ),
        }
    )
    return env


def seed(env: dict[str, str]) -> tuple[str, int]:
    """Migrate and create an agent with 20 tickets; return (API token, a ticket id)."""
    script = f"""
from django.contrib.auth import get_user_model
from helpdesk.accounts.models import ApiToken, Membership, Organization, Role
from helpdesk.tickets.models import Ticket
org = Organization.objects.create(name="Bench", slug="bench")
agent = get_user_model().objects.create_user("agent", "agent@example.com", "x" * 20)
customer = get_user_model().objects.create_user("cust", "cust@example.com", "x" * 20)
Membership.objects.create(user=agent, organization=org, role=Role.AGENT)
Membership.objects.create(user=customer, organization=org, role=Role.CUSTOMER)
tickets = [
    Ticket.objects.create(
        organization=org, requester=customer, subject=f"Printer {{i}} on fire",
        description="It smokes. " * 20,
    )
    for i in range({TICKETS})
]
print(ApiToken.issue(agent)[1], tickets[0].pk)
"""
    helpdesk = str(Path(sys.executable).parent / "helpdesk")
    subprocess.run([helpdesk, "migrate", "-v0"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [helpdesk, "shell", "-c", script], env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    return out[-2], int(out[-1])


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, token: str, seconds: float, connections: int) -> tuple[float, float, int]:
    """Load ``url`` for ``seconds``; return (requests/s, p99 latency in ms, requests done)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(HERE / "recycle.lua"),
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
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    return rate, float(value) * _UNITS[unit], done


# Frames Django runs between a middleware and the next one: not anybody's own work.
_PLUMBING = ("django/core/handlers/base.py", "django/utils/deprecation.py")
# The work a monitoring wrapper times (the query, the cache call): the wrapper does not own it.
_WRAPPED = ("django/db/backends/", "django/core/cache/backends/")
_WRAPPERS = ("helpdesk/monitoring/metrics/timing.py", "helpdesk/monitoring/metrics/cache.py")


def owner(frames: list[str]) -> str | None:
    """Return the monitoring module a sampled stack's time belongs to, or None.

    The innermost ``convert_exception_to_response`` frame starts the layer that is running (a
    middleware, or the view); its first frame that is not Django's plumbing owns the sample.
    Inside the view, the query and cache wrappers own what they do around the wrapped call.
    """
    layers = [i for i, frame in enumerate(frames) if "django/core/handlers/exception.py" in frame]
    if not layers:
        return None
    for frame in frames[layers[-1] + 1 :]:
        if not any(p in frame for p in _PLUMBING):
            match = re.search(r"\((helpdesk/monitoring/\w+|django_prometheus)/", frame)
            if match:
                return match[1].removeprefix("helpdesk/")
            break
    wrappers = [i for i, frame in enumerate(frames) if any(w in frame for w in _WRAPPERS)]
    if wrappers and not any(w in f for f in frames[wrappers[-1] :] for w in _WRAPPED):
        return "monitoring/metrics (query and cache timing)"
    return None


def profile(
    mode: str, master: int, url: str, *, token: str, seconds: float, connections: int
) -> None:
    """Sample the server's workers under load; print the share of each monitoring module."""
    py_spy = str(Path(sys.executable).parent / "py-spy")
    raw = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "stacks.txt"
    spy = subprocess.Popen(
        [
            *(py_spy, "record", "--format", "raw", "-o", str(raw), "--rate", "250", "--gil"),
            *("--subprocesses", "--pid", str(master), "--duration", str(int(seconds) + 1)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wrk(url, token, seconds, connections)
    _, err = spy.communicate()
    if not raw.exists():
        print(f"py-spy could not sample: {err.decode(errors='replace').strip()}")
        return
    request = 0
    by_owner: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "django/core/handlers/wsgi.py" not in stack:
            continue  # an idle thread, gunicorn's own work
        request += int(count)
        name = owner(stack.split(";"))
        if name:
            by_owner[name] += int(count)
    print(f"py-spy --gil, {mode}, ticket list: {request} samples in requests")
    for name, samples in by_owner.most_common():
        print(f"  {name:48} {samples / max(request, 1):6.1%}")
    print(f"  raw stacks: {raw}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s")
    args, _ = parser.parse_known_args()
    if args.quick:
        args.rounds, args.seconds = 2, 3
    if not shutil.which("wrk"):
        print("wrk is not installed (Debian package wrk): skipped")
        return 0
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    envs = {mode: server_env(mode, tmp / mode, url, redis) for mode in MODES}
    from helpdesk.gunicorn_conf import threads, workers

    connections = workers * threads
    with scratch_database(url), ExitStack() as stack:
        token, ticket = seed(envs["full"])
        servers = {}
        for mode in MODES:
            port = free_port(PORT_BASE, PORT_BASE + 499)
            log = tmp / f"{mode}.log"
            servers[mode] = stack.enter_context(
                serve(envs[mode], port, stdout=log, ready="/health/live")
            )
        requests = {
            "ticket list": "/api/v1/tickets/",
            "ticket detail": f"/api/v1/tickets/{ticket}/",
        }
        # (requests/s, p99 ms, CPU ms per request) per run
        results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for server in servers.values():  # warm up: imports, connections, caches
            for path in requests.values():
                wrk(server.base + path, token, 2, connections)
        for round_ in range(args.rounds):
            order = MODES[round_ % len(MODES) :] + MODES[: round_ % len(MODES)]
            for name, path in requests.items():
                for mode in order:
                    master = servers[mode].proc.pid
                    cpu = cpu_seconds(master)
                    rate, p99, done = wrk(
                        servers[mode].base + path, token, args.seconds, connections
                    )
                    cpu_ms = (cpu_seconds(master) - cpu) * 1000 / done
                    results.setdefault((name, mode), []).append((rate, p99, cpu_ms))
        print(
            f"gunicorn {workers} workers x {threads} threads, PostgreSQL, Redis; wrk "
            f"{connections} connections; {args.rounds} rounds x {args.seconds:g} s per server"
        )
        print("  median of the rounds; paired: median of each round's ratio to off")
        for name in requests if args.rounds else ():
            print(f"  {name}")
            off = results[(name, "off")]
            for mode in MODES:
                runs = results[(name, mode)]
                medians = [statistics.median(run[k] for run in runs) for k in range(3)]
                paired = [
                    statistics.median(
                        run[k] / base[k] - 1 for run, base in zip(runs, off, strict=True)
                    )
                    for k in range(3)
                ]
                print(
                    f"    {mode:18} {medians[0]:7.1f} req/s ({paired[0]:+6.1%})"
                    f"  p99 {medians[1]:7.1f} ms ({paired[1]:+6.1%})"
                    f"  CPU {medians[2]:6.2f} ms/request ({paired[2]:+6.1%})"
                )
        if args.profile:
            for mode in ("full", "django-prometheus", *(("full@baseline",) * bool(BASELINE_SRC))):
                # `helpdesk serve` execs gunicorn: the server process is gunicorn's master.
                server = servers[mode]
                url = server.base + requests["ticket list"]
                profile(
                    mode, server.proc.pid, url, token=token, seconds=15, connections=connections
                )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
