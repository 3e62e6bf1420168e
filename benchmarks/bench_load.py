"""Load the ticket API with a realistic mix and compare it with the minimal view, in one run.

Two servers run side by side, each `helpdesk serve` (gunicorn with helpdesk/gunicorn_conf.py,
HELPDESK_ENV=production) on one PostgreSQL database and one Redis:

- product: the platform as shipped, every monitoring middleware on, and the background worker
  (`helpdesk worker`) running beside it;
- minimal: benchmarks/minimal_urls.py under minimal_settings.py, what the ticket list must do
  and nothing else (one token lookup by hash, one query for a page of 20 tickets, orjson; no
  middleware), the limit the platform is measured against.

The data: 2 organizations, 4 agents, 40 customers, 4 000 tickets (100 per customer). wrk
(/usr/bin/wrk, Lua script bench_load.lua) sends, per request kind, agents' and customers'
bearer tokens in turn:

- list: the ticket list, 20 a page; agents with a filter (status, priority, assignee,
  unassigned, ordering, a search) on pages 1-5, customers their own tickets by last change;
- detail: one ticket (agents: any of their organization's; customers: one of theirs);
- comment: a comment on such a ticket (POST);
- write: a customer raises a ticket, an agent opens it (create, then transition, in turn);
- mix: the four at once as four wrk processes with 12/5/2/1 of the 20 connections, about
  60/25/10/5 % of the requests (the shares measured are printed);
- minimal: the minimal view, with the list's tokens.

Each round runs minimal, list, detail and mix for --seconds each, in an order rotated every
round (the shared machine's load changes alike for all); the ratios to minimal are taken per
round and their median reported. Per run: throughput, p50/p95/p99 latency (wrk's, at the
client) and error ratio (non-2xx and socket errors); with --cpu, the CPU seconds per request of
the gunicorn workers, of PostgreSQL's backends serving the run's database and of wrk.

Run: REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python benchmarks/bench_load.py
     [--rounds 3] [--seconds 10] [--workers 2] [--threads 4] [--quick] [--cpu]
(BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/helpdesk_bench_load, is
created and dropped; BENCH_PORTS "first-last" is the port range of the servers.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_overhead import database  # noqa: E402
from loadgen import cpu_seconds  # noqa: E402
from tests.services import free_port  # noqa: E402
from tests.web_server import serve  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/helpdesk_bench_load"
SCRIPT = HERE / "bench_load.lua"
SRC = HERE.parent / "src"
CONNECTIONS = 20
# wrk processes of the mix: (kind, connections)
MIX = (("list", 12), ("detail", 5), ("comment", 2), ("write", 1))
FILTERS = (
    "status=open",
    "status=new&status=pending",
    "priority=high",
    "priority=urgent&status=open",
    "unassigned=true",
    "ordering=-updated_at",
    "ordering=sla_due_at",
    "search=printer",
    "created_after=2020-01-01T00:00:00Z",
)


def server_env(
    settings: str, data: Path, database: str, redis: str, web: dict[str, str], *, src: Path
) -> dict[str, str]:
    """Return the environment of one production server using the settings module ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "WEB_"))}
    env.update(
        {
            "HELPDESK_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "HELPDESK_DATA_DIR": str(data),
            "DATABASE_URL": database,
            "REDIS_URL": redis,
            "CACHE_KEY_PREFIX": f"bench-load-{data.name}",
            "METRICS_TOKEN": secrets.token_urlsafe(32),
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(src)]),
            **web,
        }
    )
    return env


SEED = """
import json, random
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from helpdesk.accounts.models import ApiToken, Membership, Organization, Role
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.states import Status, Priority, Channel
User = get_user_model()
rng = random.Random(7)
out = {"agents": [], "customers": [], "org_tickets": []}
now = timezone.now()
for o in range(2):
    org = Organization.objects.create(name=f"Org {o}", slug=f"org-{o}")
    agents = []
    for a in range(2):
        agent = User.objects.create_user(f"agent{o}{a}", f"agent{o}{a}@example.com", "x" * 20)
        Membership.objects.create(user=agent, organization=org, role=Role.AGENT)
        agents.append(agent)
        if o == 0:
            out["agents"].append(ApiToken.issue(agent)[1])
    for c in range(20):
        customer = User.objects.create_user(f"cust{o}{c}", f"c{o}{c}@example.com", "x" * 20)
        Membership.objects.create(user=customer, organization=org, role=Role.CUSTOMER)
        tickets = Ticket.objects.bulk_create(
            Ticket(
                organization=org, requester=customer,
                assignee=rng.choice([None, *agents]),
                subject=f"Printer {i} of {customer.username} on fire",
                description="It smokes and beeps. " * rng.randint(2, 40),
                status=rng.choice(list(Status)), priority=rng.choice(list(Priority)),
                channel=rng.choice(list(Channel)),
                created_at=now - timedelta(minutes=rng.randint(1, 60 * 24 * 90)),
                sla_due_at=now + timedelta(hours=rng.randint(-48, 48)),
            )
            for i in range(100)
        )
        if o == 0:
            out["customers"].append(
                {"token": ApiToken.issue(customer)[1], "tickets": [t.pk for t in tickets]}
            )
            out["org_tickets"].extend(t.pk for t in tickets)
# Statistics, as autovacuum keeps them on a database in use: without them PostgreSQL plans the
# fresh tables blind (a page of tickets took 2.0 ms instead of 0.5), until autovacuum gets to
# them in the middle of a run and the plans change under it.
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE")
print("SEED" + json.dumps(out))
"""


def seed(env: dict[str, str], folder: Path) -> Path:
    """Migrate and create the data; return the Lua data file for bench_load.lua."""
    helpdesk = str(Path(sys.executable).parent / "helpdesk")
    subprocess.run([helpdesk, "migrate", "-v0"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [helpdesk, "shell", "-c", SEED], env=env, check=True, capture_output=True, text=True
    ).stdout
    data = json.loads(out[out.index("SEED") + 4 :])

    def lua_list(values: list[object]) -> str:
        return "{" + ", ".join(json.dumps(v) for v in values) + "}"

    customers = ", ".join(
        f"{{token = {json.dumps(c['token'])}, tickets = {lua_list(c['tickets'])}}}"
        for c in data["customers"]
    )
    path = folder / "data.lua"
    path.write_text(
        f"return {{agents = {lua_list(data['agents'])}, customers = {{{customers}}}, "
        f"org_tickets = {lua_list(data['org_tickets'])}, filters = {lua_list(list(FILTERS))}}}\n"
    )
    return path


@dataclass(frozen=True)
class Result:
    """What one wrk process measured."""

    requests: int
    seconds: float
    errors: int
    p50: float
    p95: float
    p99: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def start_wrk(
    base: str, kind: str, data: Path, seconds: float, connections: int
) -> subprocess.Popen[str]:
    """Start one wrk process sending ``kind`` requests (bench_load.lua)."""
    threads = min(2, connections)
    return subprocess.Popen(
        [
            *("/usr/bin/wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s"),
            *("--timeout", "10s", "-s", str(SCRIPT), base, "--", kind, str(data)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> Result:
    """Wait for a wrk process and read its JSON line."""
    out, err = proc.communicate()
    line = next((ln for ln in out.splitlines() if ln.startswith("{")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"wrk failed ({proc.returncode}): {out}\n{err}")
    row = json.loads(line)
    return Result(
        row["requests"],
        row["seconds"],
        row["errors"],
        row["p50_us"] / 1000,
        row["p95_us"] / 1000,
        row["p99_us"] / 1000,
    )


def postgres_backends_cpu(database_name: str) -> dict[int, float]:
    """Return CPU seconds so far of each PostgreSQL backend connected to ``database_name``."""
    import psycopg

    admin = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database_name]
            )
        ]
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # another machine's server, or the backend just ended
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    return cpu


@dataclass
class Run:
    """One measured run: wrk's results per kind and the CPU seconds spent, by whom."""

    results: dict[str, Result]
    cpu: dict[str, float]

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.results.values())

    @property
    def rps(self) -> float:
        return sum(r.rps for r in self.results.values())


def measure(
    base: str,
    kinds: tuple[tuple[str, int], ...],
    data: Path,
    seconds: float,
    *,
    master: int,
    database_name: str,
    cpu: bool,
) -> Run:
    """Run wrk processes for ``kinds`` at once against ``base``; return what they measured."""
    before = (cpu_seconds(master), postgres_backends_cpu(database_name)) if cpu else None
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = {kind: start_wrk(base, kind, data, seconds, c) for kind, c in kinds}
    results = {kind: finish(proc) for kind, proc in procs.items()}
    spent: dict[str, float] = {}
    if before is not None:
        wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        pg_after = postgres_backends_cpu(database_name)
        spent = {
            "gunicorn": cpu_seconds(master) - before[0],
            "postgres": sum(v - before[1].get(pid, 0.0) for pid, v in pg_after.items()),
            "wrk": (wrk_after.ru_utime + wrk_after.ru_stime)
            - (wrk_before.ru_utime + wrk_before.ru_stime),
        }
    return Run(results, spent)


@contextmanager
def worker(env: dict[str, str], port: int, web: str, log: Path) -> Iterator[None]:
    """Run the background worker (`helpdesk worker`) beside the product's server."""
    helpdesk = str(Path(sys.executable).parent / "helpdesk")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [helpdesk, "worker"],
            env={**env, "PORT": str(port), "PROBE_BASE_URL": web},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        time.sleep(1)
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited: {log.read_text()}")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=20)


RUNS: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {
    # name: (server, wrk processes)
    "minimal": ("minimal", (("minimal", CONNECTIONS),)),
    "list": ("product", (("list", CONNECTIONS),)),
    "detail": ("product", (("detail", CONNECTIONS),)),
    "mix": ("product", MIX),
}


def report(runs: dict[str, list[Run]], args: argparse.Namespace) -> None:
    """Print the medians over rounds and the per-round ratios to the minimal view."""
    print(
        f"gunicorn {args.workers} workers x {args.threads} threads (gthread), PostgreSQL, Redis; "
        f"wrk {CONNECTIONS} connections; {args.rounds} rounds x {args.seconds:g} s per run; "
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    print("  median over rounds; ratio = median of each round's requests/s over minimal's")
    print(
        f"  {'run':18} {'req/s':>8} {'ratio':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f" {'errors':>8} {'share':>6}"
    )
    minimal = [run.rps for run in runs["minimal"]]
    for name, rounds in runs.items():
        ratio = statistics.median(r.rps / m for r, m in zip(rounds, minimal, strict=True))
        kinds = list(rounds[0].results)
        rows = [("", kinds)] if len(kinds) == 1 else [("all", kinds)] + [(k, [k]) for k in kinds]
        for label, members in rows:
            rps = statistics.median(sum(r.results[k].rps for k in members) for r in rounds)
            total = [sum(r.results[k].requests for k in members) for r in rounds]
            share = statistics.median(t / r.requests for t, r in zip(total, rounds, strict=True))
            errors = sum(sum(r.results[k].errors for k in members) for r in rounds) / max(
                sum(total), 1
            )

            def pct(attr: str, members: list[str] = members, rounds: list[Run] = rounds) -> float:
                # A group's percentile: the request-weighted mean of its members' (wrk gives no
                # merged histogram across processes).
                return statistics.median(
                    sum(getattr(r.results[k], attr) * r.results[k].requests for k in members)
                    / max(sum(r.results[k].requests for k in members), 1)
                    for r in rounds
                )

            title = f"{name} {label}".strip() if label else name
            shown_ratio = f"{ratio:6.1%}" if label in ("", "all") else ""
            print(
                f"  {title:18} {rps:8.1f} {shown_ratio:>7} {pct('p50'):8.1f} {pct('p95'):8.1f}"
                f" {pct('p99'):8.1f} {errors:8.2%} {share:6.1%}"
            )
    if args.cpu:
        print("  CPU ms per request (median over rounds): gunicorn workers / PostgreSQL / wrk")
        for name, rounds in runs.items():
            parts = [
                statistics.median(r.cpu[who] * 1000 / max(r.requests, 1) for r in rounds)
                for who in ("gunicorn", "postgres", "wrk")
            ]
            db_share = statistics.median(
                r.cpu["postgres"] / max(r.cpu["gunicorn"] + r.cpu["postgres"], 1e-9) for r in rounds
            )
            print(
                f"  {name:18} {parts[0]:6.2f} / {parts[1]:5.2f} / {parts[2]:5.2f}"
                f"   PostgreSQL's share of server CPU {db_share:5.1%}"
            )


# Where a request's samples go: (label, a substring of a frame); a sample counts for each label
# whose frame is on its stack, so the shares overlap (the database inside the serializer...).
PROFILE_MARKERS = (
    ("token authentication", "helpdesk/accounts/authentication.py"),
    ("access (memberships)", "access_for"),
    ("filters (django-filter)", "django_filters/"),
    ("pagination", "rest_framework/pagination.py"),
    ("  of which count()", "paginator.py:count"),
    ("serializer", "rest_framework/serializers.py"),
    ("JSON rendering", "rest_framework/renderers.py"),
    ("database (execute + fetch)", "django/db/backends/utils.py"),
    ("model instances", "django/db/models/base.py"),
    ("monitoring middleware/wrappers", "helpdesk/monitoring/"),
    ("  access log", "helpdesk/monitoring/logging/"),
    ("  metrics", "helpdesk/monitoring/metrics/"),
    ("  security", "helpdesk/monitoring/security/"),
    ("DRF view dispatch", "rest_framework/views.py:dispatch"),
)


def profile(base: str, kind: str, data: Path, master: int, seconds: float) -> None:
    """Sample the server's workers (py-spy --gil) under ``kind`` load; print where time goes."""
    py_spy = str(Path(sys.executable).parent / "py-spy")
    raw = Path(tempfile.mkdtemp(prefix="bench-load-profile-")) / f"{kind}.txt"
    spy = subprocess.Popen(
        [
            *(py_spy, "record", "--format", "raw", "-o", str(raw), "--rate", "200", "--gil"),
            *("--subprocesses", "--pid", str(master), "--duration", str(int(seconds))),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    finish(start_wrk(base, kind, data, seconds, CONNECTIONS))
    _, err = spy.communicate()
    if not raw.exists():
        print(f"py-spy could not sample: {err.decode(errors='replace').strip()}")
        return
    total = 0
    counts = dict.fromkeys((label for label, _ in PROFILE_MARKERS), 0)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "django/core/handlers/wsgi.py" not in stack:
            continue  # an idle thread, gunicorn's own work
        total += int(count)
        for label, marker in PROFILE_MARKERS:
            if marker in stack:
                counts[label] += int(count)
    print(f"py-spy --gil, product, {kind}: {total} samples in requests (shares overlap)")
    for label, samples in counts.items():
        print(f"  {label:34} {samples / max(total, 1):6.1%}")
    print(f"  raw stacks: {raw}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cpu", action="store_true", help="CPU seconds per request, by process")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 s")
    parser.add_argument("--profile", action="store_true", help="py-spy the list and detail")
    parser.add_argument("--baseline", default="", help="src/ folder of a baseline product")
    parser.add_argument("--only", default="", help="comma-separated runs (default: all)")
    args, _ = parser.parse_known_args()
    if args.quick:
        args.rounds, args.seconds = 2, 4
    if not Path("/usr/bin/wrk").exists():
        print("wrk is not installed (Debian package wrk): skipped")
        return 0
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    low, high = (int(p) for p in os.environ.get("BENCH_PORTS", "22500-22599").split("-"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    web = {"WEB_CONCURRENCY": str(args.workers), "WEB_THREADS": str(args.threads)}
    envs = {
        "product": server_env("helpdesk.settings", tmp / "product", url, redis, web, src=SRC),
        "minimal": server_env("minimal_settings", tmp / "minimal", url, redis, web, src=SRC),
    }
    if args.baseline:
        # Another checkout's src/ (e.g. `git archive REV src | tar -x -C DIR`): the product
        # before a change, in the same run. It gets no background worker.
        envs["baseline"] = server_env(
            "helpdesk.settings", tmp / "baseline", url, redis, web, src=Path(args.baseline)
        )
        RUNS["baseline list"] = ("baseline", (("list", CONNECTIONS),))
        RUNS["baseline detail"] = ("baseline", (("detail", CONNECTIONS),))
    selected = {
        name: run for name, run in RUNS.items() if not args.only or name in args.only.split(",")
    }
    selected.setdefault("minimal", RUNS["minimal"])
    database_name = url.rsplit("/", 1)[1]
    with database(url), ExitStack() as stack:
        data = seed(envs["product"], tmp)
        servers = {}
        for name, env in envs.items():
            port = free_port(low, high)
            servers[name] = stack.enter_context(
                serve(env, port, stdout=tmp / f"{name}.log", ready="/health/live")
            )
        stack.enter_context(
            worker(
                envs["product"], free_port(low, high), servers["product"].base, tmp / "worker.log"
            )
        )
        for server, kinds in selected.values():  # warm up: imports, connections
            measure(
                servers[server].base,
                kinds,
                data,
                2,
                master=servers[server].proc.pid,
                database_name=database_name,
                cpu=False,
            )
        runs: dict[str, list[Run]] = {name: [] for name in selected}
        names = list(selected)
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                server, kinds = selected[name]
                runs[name].append(
                    measure(
                        servers[server].base,
                        kinds,
                        data,
                        args.seconds,
                        master=servers[server].proc.pid,
                        database_name=database_name,
                        cpu=args.cpu,
                    )
                )
        if args.rounds:
            report(runs, args)
        if args.profile:
            product = servers["product"]
            for kind in ("list", "detail"):
                profile(product.base, kind, data, product.proc.pid, 15)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
