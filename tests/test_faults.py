"""Fault injection under light load: every dependency fails, the platform keeps telling the truth.

One stack per module, started once: `helpdesk serve` (gunicorn, 2 workers x 2 threads) and
`helpdesk worker`, on a scratch database of the shared PostgreSQL and the shared Redis, both
reached through in-process TCP proxies (tests/tcp.py ``FaultProxy``) that a test makes refuse
or hang, so the shared servers are never stopped. Notifications go to real receivers: a
Slack-compatible HTTP server, a signed-webhook HTTP server and aiosmtpd. The data folder is a
small tmpfs the test mounts (it can be filled). A background loop keeps requesting the ticket
list, /health/live, /health/ready and /metrics for the whole module.

For each fault the test injects it, waits for what must follow, repairs it and checks:
/health/live stays 200; /health/ready turns 503 (when a critical dependency is gone) and back
to 200 without a restart; /metrics keeps answering; API requests answer 200 or a fast 503
with Retry-After, never 500 or a hang; the right alert fires once and resolves once on every
channel; notifications are delivered once each after the repair; what was written before is
still there; the log says it once per interval, without tracebacks.

Timings are shortened by settings (evaluation every second, ``for`` of 2 s); bounds are
generous: they tell "answers within a timeout" from "hangs", not fast from slow machines.
The measured figures are printed (``-s``) and kept in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.receivers import HttpReceiver, SmtpReceiver
from tests.services import free_port, port_open, unavailable, wait_until
from tests.tcp import FaultProxy
from tests.test_outage_database import _field
from tests.web_server import TOKEN, migrate, serve, server_env

pytestmark = [pytest.mark.services, pytest.mark.slow]
# aiosmtpd logs every SMTP command at INFO: hundreds of lines around a failure.
logging.getLogger("mail.log").setLevel(logging.WARNING)

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))
API_TOKEN = "monitoring-api-token-for-the-fault-suite-0123"
AM_TOKEN = "alertmanager-webhook-token-for-the-fault-suite"
WEBHOOK_SECRET = "webhook-secret-for-the-fault-suite"

# A request that gets no answer by then "hangs".
CLIENT_TIMEOUT = 20.0
HEALTH_DEADLINE = 2.0
EVALUATION = 1.0
# ALERT_THRESHOLDS for the run: every alert a fault should raise fires after 2 s, not minutes.
THRESHOLDS = ",".join(
    [
        "DatabaseDown.for=2",
        "HealthCheckFailing.for=2",
        "DiskSpaceLow.for=2",
        "NotificationDeliveryFailing.for=2",
        "NotificationDeliveryFailing.backlog_seconds=3",
        "ClockSkew.for=2",
    ]
)


@dataclass
class Sample:
    """One request of the load loop."""

    at: float
    path: str
    status: int | str  # the HTTP status, or "no answer: <error type>"
    elapsed: float
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Load:
    """Request the ticket list, liveness, readiness and metrics in turn until stopped."""

    def __init__(self, base: str, api_token: str) -> None:
        self.base, self.api_token = base, api_token
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _one(self, path: str, headers: dict[str, str]) -> None:
        started = time.monotonic()
        try:
            response = requests.get(f"{self.base}{path}", headers=headers, timeout=CLIENT_TIMEOUT)
            status: int | str = response.status_code
            body = response.text[:300] if response.status_code >= 400 else ""
            kept = {k: v for k, v in response.headers.items() if k in {"Retry-After"}}
            kept["Content-Type"] = response.headers.get("Content-Type", "")
        except requests.RequestException as error:
            status, body, kept = f"no answer: {type(error).__name__}", "", {}
        self.samples.append(Sample(started, path, status, time.monotonic() - started, body, kept))

    def _run(self) -> None:
        api = {"Authorization": f"Bearer {self.api_token}"}
        metrics = {"Authorization": f"Bearer {TOKEN}"}
        turn = 0
        while not self._stop.is_set():
            self._one("/api/v1/tickets/", api)
            self._one("/health/live", {})
            self._one("/health/ready", {})
            if turn % 3 == 0:
                self._one("/metrics", metrics)
            turn += 1
            self._stop.wait(0.1)

    def since(self, start: float, path: str | None = None) -> list[Sample]:
        return [s for s in list(self.samples) if s.at >= start and path in {None, s.path}]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(CLIENT_TIMEOUT + 5)


class Smtp(SmtpReceiver):
    """aiosmtpd that can be stopped (connections refused) and started again on its port."""

    def down(self) -> None:
        self.controller.stop()

    def up(self) -> None:
        from aiosmtpd.controller import Controller

        # On a busy machine aiosmtpd's own start-up check can miss its default 1 s.
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=30
        )
        self.controller.start()


@dataclass
class Stack:
    base: str
    api_token: str
    pg: FaultProxy
    redis: FaultProxy
    slack: HttpReceiver
    webhook: HttpReceiver
    smtp: Smtp
    data: Path
    log: Path
    worker_log: Path
    worker_env: dict[str, str]
    load: Load
    server: subprocess.Popen[bytes]
    mounted: bool = False
    worker: subprocess.Popen[bytes] | None = None
    ticket_ids: list[int] = field(default_factory=list)

    def get(self, path: str, token: str = API_TOKEN) -> requests.Response:
        return requests.get(
            f"{self.base}{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=CLIENT_TIMEOUT,
        )

    def ready(self) -> int:
        return requests.get(f"{self.base}/health/ready", timeout=CLIENT_TIMEOUT).status_code

    def start_worker(self, command: tuple[str, ...] = (HELPDESK,)) -> None:
        out = self.worker_log.open("ab")
        self.worker = subprocess.Popen(
            [*command, "worker"], env=self.worker_env, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()

    def stop_worker(self, sig: int = signal.SIGTERM) -> None:
        if self.worker is not None:
            self.worker.send_signal(sig)
            self.worker.wait(30)
            self.worker = None

    def create_ticket(self, subject: str) -> int:
        response = requests.post(
            f"{self.base}/api/v1/tickets/",
            json={"subject": subject, "description": "written before a fault"},
            headers={"Authorization": f"Bearer {self.api_token}"},
            timeout=CLIENT_TIMEOUT,
        )
        assert response.status_code == 201, response.text
        ticket_id: int = response.json()["id"]
        self.ticket_ids.append(ticket_id)
        return ticket_id

    def tickets_still_there(self) -> None:
        for ticket_id in self.ticket_ids:
            response = requests.get(
                f"{self.base}/api/v1/tickets/{ticket_id}/",
                headers={"Authorization": f"Bearer {self.api_token}"},
                timeout=CLIENT_TIMEOUT,
            )
            assert response.status_code == 200, (ticket_id, response.text[:300])

    def fire(self, name: str, status: str = "firing", severity: str = "critical") -> str:
        """Bring an alert in the way Alertmanager does (its webhook)."""
        alert = {
            "status": status,
            "labels": {"alertname": name, "severity": severity, "service": "fault-suite"},
            "annotations": {"summary": f"{name} drill"},
            "startsAt": "2026-12-05T00:00:00Z",
            "endsAt": "2026-12-05T00:10:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": f"{abs(hash(name)) % 16**16:016x}",
        }
        payload = {
            "version": "4",
            "status": status,
            "receiver": "helpdesk",
            "groupKey": f"{{}}:{{alertname={name}}}",
            "groupLabels": {"alertname": name},
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager.invalid",
            "alerts": [alert],
        }
        response = requests.post(
            f"{self.base}/api/v1/monitoring/alerts/alertmanager/",
            json=payload,
            headers={"Authorization": f"Bearer {AM_TOKEN}"},
            timeout=CLIENT_TIMEOUT,
        )
        assert response.status_code < 300, response.text
        return str(alert["fingerprint"])


def _scratch_database(suffix: str = "faults") -> tuple[str, str, int]:
    """Create the suite's database on DATABASE_URL's server; return (direct URL, host, port)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        unavailable("DATABASE_URL does not point at PostgreSQL")
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if not port_open(host, port):
        unavailable(f"PostgreSQL is not running on {host}:{port}")
    import psycopg

    base, _, name = url.rpartition("/")
    scratch = f"{name}_{suffix}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{scratch}"')
    return f"{base}/{scratch}", host, port


def _drop(url: str) -> None:
    import psycopg

    scratch = url.rpartition("/")[2]
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin,
    ):
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _redis_address() -> tuple[str, int, str]:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        unavailable("REDIS_URL is not set")
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if not port_open(host, port):
        unavailable(f"Redis is not running on {host}:{port}")
    return host, port, parts.path.lstrip("/") or "0"


@contextlib.contextmanager
def _small_filesystem(size: str = "64m") -> Iterator[tuple[Path, bool]]:
    """Yield a folder on a tmpfs of ``size`` mounted for the test, or a plain folder.

    The flag says whether it is a mount (then it can be filled); mounting needs root or
    CAP_SYS_ADMIN, which CI containers may not have.
    """
    folder = Path(tempfile.mkdtemp(prefix="helpdesk-faults-"))
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield folder, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(folder)], capture_output=True, check=False)


SETUP = """
from helpdesk.accounts.models import ApiToken, Membership, Organization, Role
from django.contrib.auth import get_user_model
org = Organization.objects.create(name="Faults", slug="faults")
user = get_user_model().objects.create_user(username="agent", password="fault-suite-pw-1")
Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
print("TOKEN=" + ApiToken.issue(user)[1])
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("faults")) as running:
        yield running


@contextlib.contextmanager
def running_stack(tmp: Path, scratch: str = "faults") -> Iterator[Stack]:
    """Start the stack of the module docstring under ``tmp``; stop it when the block ends.

    ``scratch`` names the database (``<DATABASE_URL's name>_<scratch>``), so the soak
    (benchmarks/soak.py) and this suite never share one.
    """
    direct_url, pg_host, pg_port = _scratch_database(scratch)
    redis_host, redis_port, redis_db = _redis_address()
    with contextlib.ExitStack() as stack:
        stack.callback(_drop, direct_url)
        data, mounted = stack.enter_context(_small_filesystem())
        pg = stack.enter_context(FaultProxy((pg_host, pg_port)))
        redis = stack.enter_context(FaultProxy((redis_host, redis_port)))
        slack = stack.enter_context(HttpReceiver())
        webhook = stack.enter_context(HttpReceiver())
        smtp = stack.enter_context(Smtp())
        (tmp / "prometheus-multiproc").mkdir()
        env = server_env(
            data,
            DATABASE_URL=f"{direct_url.rpartition('@')[0]}@127.0.0.1:{pg.port}/"
            f"{direct_url.rpartition('/')[2]}",
            REDIS_URL=f"redis://127.0.0.1:{redis.port}/{redis_db}",
            WEB_CONCURRENCY="2",
            WEB_THREADS="2",
            METRICS_TOKEN=TOKEN,
            MONITORING_API_TOKEN=API_TOKEN,
            ALERTMANAGER_WEBHOOK_TOKEN=AM_TOKEN,
            LOG_FORMAT="json",
            LOG_FILES="1",
            # Not on the tmpfs: prometheus_client maps its files sparse, and a process that
            # touches a new page of one on a full file system dies of SIGBUS (reliability.md).
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "prometheus-multiproc"),
            HEALTH_DEADLINE_SECONDS=str(HEALTH_DEADLINE),
            DB_CONNECT_TIMEOUT="2",
            OUTBOUND_ALLOW_PRIVATE_IPS="1",
            ALERT_SLACK_WEBHOOK_URL=slack.url,
            ALERT_WEBHOOK_URL=webhook.url,
            ALERT_WEBHOOK_SECRET=WEBHOOK_SECRET,
            ALERT_EMAIL_TO="ops@example.org",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp.port),
            ALERT_THRESHOLDS=THRESHOLDS,
            ALERT_EVALUATION_INTERVAL_SECONDS=str(EVALUATION),
            WORKER_DELIVERY_INTERVAL_SECONDS="0.3",
            ALERT_DELIVERY_BACKOFF_SECONDS="0.2",
            ALERT_DELIVERY_BACKOFF_MAX_SECONDS="1",
            ALERT_DELIVERY_MAX_ATTEMPTS="1000",
            ALERT_DELIVERY_LEASE_SECONDS="5",
            ALERT_DELIVERY_TIMEOUT_SECONDS="2",
        )
        port = free_port(23400, 23499)
        # The worker's synthetic probes check this server (the journey needs an account the
        # suite does not make).
        env.update(PROBE_BASE_URL=f"http://127.0.0.1:{port}", PROBE_CHECKS="ready,login")
        migrate({**env, "DATABASE_URL": direct_url})
        setup = subprocess.run(
            [HELPDESK, "shell", "-c", SETUP],
            env={**env, "DATABASE_URL": direct_url},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        api_token = setup.stdout.split("TOKEN=")[1].split()[0]
        log, worker_log = tmp / "server.log", tmp / "worker.log"
        server = stack.enter_context(serve(env, port, stdout=log))
        running = Stack(
            base=server.base,
            api_token=api_token,
            pg=pg,
            redis=redis,
            slack=slack,
            webhook=webhook,
            smtp=smtp,
            data=data,
            log=log,
            worker_log=worker_log,
            worker_env=env,
            load=Load(server.base, api_token),
            server=server.proc,
            mounted=mounted,
        )
        running.start_worker()
        stack.callback(running.stop_worker)
        wait_until(
            lambda: b"started with jobs" in worker_log.read_bytes(),
            timeout=90,
            message="the worker did not start",
        )
        # Healthy before anything fails: ready, and every check passing.
        wait_until(lambda: running.ready() == 200, timeout=60, message="never ready")
        running.load.start()
        stack.callback(running.load.stop)
        yield running


# --- what each test checks ------------------------------------------------------------------


def _lines(path: Path, start: int) -> list[dict[str, Any]]:
    with path.open("rb") as file:
        file.seek(start)
        text = file.read().decode(errors="replace")
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            line = {"message": raw, "unparsed": True}
        lines.append(line if isinstance(line, dict) else {"message": raw, "unparsed": True})
    return lines


@dataclass
class Window:
    """What happened between a fault's injection and the end of its recovery."""

    name: str
    started: float
    log_start: int
    worker_log_start: int
    slack_start: int
    webhook_start: int
    mail_start: int
    figures: dict[str, float] = field(default_factory=dict)


FIGURES: dict[str, dict[str, float]] = {}


def _open(stack: Stack, name: str) -> Window:
    return Window(
        name,
        time.monotonic(),
        stack.log.stat().st_size,
        stack.worker_log.stat().st_size,
        len(stack.slack.accepted),
        len(stack.webhook.accepted),
        len(stack.smtp.messages),
    )


def _first(stack: Stack, window: Window, path: str, status: int, timeout: float = 60) -> float:
    """Wait until the load loop saw ``status`` on ``path``; return seconds since the fault."""

    def seen() -> float | None:
        for sample in stack.load.since(window.started, path):
            if sample.status == status:
                return sample.at + sample.elapsed - window.started
        return None

    found = wait_until(
        seen, timeout=timeout, interval=0.1, message=f"{window.name}: no {status} on {path}"
    )
    return float(found)


def _recovered(stack: Stack, window: Window, repaired: float) -> None:
    """Wait until ready and the ticket list answer 200 again; record how long it took."""

    def back() -> bool:
        samples = stack.load.since(repaired)
        ready = [s for s in samples if s.path == "/health/ready" and s.status == 200]
        tickets = [s for s in samples if s.path == "/api/v1/tickets/" and s.status == 200]
        return bool(ready and tickets)

    wait_until(back, timeout=60, interval=0.1, message=f"{window.name}: no recovery")
    samples = stack.load.since(repaired)
    ready = next(s for s in samples if s.path == "/health/ready" and s.status == 200)
    window.figures["recovery_s"] = round(ready.at + ready.elapsed - repaired, 2)


def _check_requests(stack: Stack, window: Window, *, allow_refused: bool = False) -> None:
    """Check every request the load loop made since the fault began."""
    samples = stack.load.since(window.started)
    problems = []
    for sample in samples:
        if sample.path in {"/health/live", "/metrics"}:
            ok = sample.status == 200 or (allow_refused and str(sample.status).startswith("no"))
        elif sample.path == "/health/ready":
            ok = sample.status in {200, 503} or (
                allow_refused and str(sample.status).startswith("no")
            )
            # Bounded by the checks' deadline (plus a shared machine's slack), never a hang.
            ok = ok and sample.elapsed < HEALTH_DEADLINE + 8
        else:
            ok = sample.status == 200 or (
                sample.status == 503
                and int(sample.headers.get("Retry-After", "0")) >= 1
                and sample.headers.get("Content-Type") == "application/json"
            )
            ok = ok or (allow_refused and str(sample.status).startswith("no"))
            ok = ok and sample.elapsed < 15
        if not ok:
            problems.append(sample)
    assert not problems, f"{window.name}: {problems[:5]}"
    tickets = [s for s in samples if s.path == "/api/v1/tickets/" and s.status == 503]
    if tickets:
        window.figures["slowest_503_s"] = round(max(s.elapsed for s in tickets), 2)
    api = [s.elapsed for s in samples if s.path == "/api/v1/tickets/"]
    window.figures["api_worst_s"] = round(max(api), 2) if api else 0.0
    live = [s.elapsed for s in samples if s.path == "/health/live"]
    window.figures["live_worst_s"] = round(max(live), 2) if live else 0.0
    metrics = [s.elapsed for s in samples if s.path == "/metrics"]
    window.figures["metrics_worst_s"] = round(max(metrics), 2) if metrics else 0.0


def _check_logs(stack: Stack, window: Window, dependency: str | None = None) -> None:
    """No traceback, no django.request line, one outage line per process per interval."""
    web = _lines(stack.log, window.log_start)
    worker = _lines(stack.worker_log, window.worker_log_start)
    for line in [*web, *worker]:
        # The log file handler's own notice on stderr when its disk is full (plain text).
        if line.get("unparsed") and "not writable" in line["message"]:
            window.figures["log_file_notices"] = window.figures.get("log_file_notices", 0) + 1
            continue
        assert not line.get("unparsed"), f"{window.name}: not a log line: {line['message']}"
        assert _field(line, "error.stack_trace") is None, f"{window.name}: {line}"
        assert _field(line, "log.logger") != "django.request", f"{window.name}: {line}"
    if dependency is not None:

        def said(lines: list[dict[str, Any]]) -> int:
            return sum(
                1
                for line in lines
                if _field(line, "event.action") == "dependency_unavailable"
                and _field(line, "labels.dependency") == dependency
            )

        # Two web processes and one worker, within one HEALTH_LOG_INTERVAL_SECONDS (60 s).
        assert said(web) <= 2, f"{window.name}: {said(web)} web lines"
        assert said(worker) <= 1, f"{window.name}: {said(worker)} worker lines"
    others = [line for line in web if _field(line, "log.logger") != "helpdesk.access"]
    window.figures["web_log_lines"] = len(others)
    window.figures["worker_log_lines"] = len(worker)


def _notifications(receiver: HttpReceiver | Smtp, start: int) -> list[str]:
    if isinstance(receiver, Smtp):
        return [str(m["X-Helpdesk-Idempotency-Key"]) for m in receiver.messages[start:]]
    return [item["headers"].get("Idempotency-Key", "") for item in receiver.accepted[start:]]


def _names(stack: Stack) -> dict[str, str]:
    """Return alert episode (the key's part before the first colon) -> alert name."""
    names = {}
    for item in stack.webhook.accepted:
        body = item["json"] or {}
        key = str(body.get("idempotency_key", ""))
        names[key.split(":", maxsplit=1)[0]] = str(body.get("name", ""))
    return names


def _episodes(stack: Stack, window: Window, alert: str) -> dict[str, Counter[str]]:
    """Return channel -> Counter of (kind) notifications of ``alert`` since the window."""
    names = _names(stack)
    starts = {
        "slack": (stack.slack, window.slack_start),
        "webhook": (stack.webhook, window.webhook_start),
        "email": (stack.smtp, window.mail_start),
    }
    result: dict[str, Counter[str]] = {}
    for channel, (receiver, start) in starts.items():
        keys = _notifications(receiver, start)
        result[channel] = Counter(
            key.split(":")[1] for key in keys if names.get(key.split(":")[0]) == alert
        )
    return result


def _fired_and_resolved_once(
    stack: Stack, window: Window, alert: str, channels: tuple[str, ...]
) -> None:
    """Wait for one firing and one resolved notification of ``alert`` on each channel."""

    def complete() -> bool:
        episodes = _episodes(stack, window, alert)
        return all(episodes[c]["firing"] >= 1 and episodes[c]["resolved"] >= 1 for c in channels)

    wait_until(
        complete,
        timeout=60,
        interval=0.3,
        message=f"{window.name}: {alert} not fired and resolved on {channels}: "
        f"{_episodes(stack, window, alert)}",
    )
    time.sleep(2 * EVALUATION + 1)  # room for a duplicate to show up
    episodes = _episodes(stack, window, alert)
    for channel in channels:
        assert episodes[channel] == Counter({"firing": 1, "resolved": 1}), (
            window.name,
            alert,
            episodes,
        )


def _everywhere(stack: Stack, window: Window, alert: str, kind: str) -> None:
    """Wait until every channel got a ``kind`` notification of ``alert``."""
    wait_until(
        lambda: all(
            _episodes(stack, window, alert)[channel][kind] >= 1
            for channel in ("slack", "webhook", "email")
        ),
        timeout=60,
        message=f"{alert} {kind} not everywhere: {_episodes(stack, window, alert)}",
    )


def _close(stack: Stack, window: Window, dependency: str | None = None) -> None:
    _check_requests(stack, window)
    _check_logs(stack, window, dependency)
    stack.tickets_still_there()
    FIGURES[window.name] = window.figures
    print(f"\n{window.name}: {window.figures}")


# --- the faults -------------------------------------------------------------------------------


def _dependency_fault(
    stack: Stack,
    name: str,
    proxy: FaultProxy,
    inject: Callable[[], None],
    *,
    alert: str,
    dependency: str,
) -> None:
    """Fail a dependency behind ``proxy`` until ``alert`` is out, repair it, check it all."""
    stack.create_ticket(f"before {name}")
    window = _open(stack, name)
    inject()
    window.figures["ready_503_s"] = round(_first(stack, window, "/health/ready", 503), 2)
    if dependency == "database":
        window.figures["api_503_s"] = round(_first(stack, window, "/api/v1/tickets/", 503), 2)
    # Hold the fault until the alert is out (it fires 2 s after the worker sees the fault).
    wait_until(
        lambda: _episodes(stack, window, alert)["slack"]["firing"] >= 1,
        timeout=60,
        message=f"{name}: {alert} did not fire",
    )
    window.figures["alert_s"] = round(time.monotonic() - window.started, 2)
    repaired = time.monotonic()
    proxy.repair()
    _recovered(stack, window, repaired)
    _fired_and_resolved_once(stack, window, alert, ("slack", "webhook", "email"))
    _close(stack, window, dependency)


@pytest.mark.parametrize(
    "case",
    [
        ("PostgreSQL refusing", "pg", "refuse", "DatabaseDown", "database"),
        ("PostgreSQL hung", "pg", "hang", "DatabaseDown", "database"),
        ("Redis refusing", "redis", "refuse", "HealthCheckFailing", "cache"),
        ("Redis hung", "redis", "hang", "HealthCheckFailing", "cache"),
    ],
    ids=["postgresql-refusing", "postgresql-hung", "redis-refusing", "redis-hung"],
)
def test_it_survives_a_dependency_refusing_or_hung(
    stack: Stack, case: tuple[str, str, str, str, str]
) -> None:
    name, proxy, fault, alert, dependency = case
    server: FaultProxy = getattr(stack, proxy)
    _dependency_fault(
        stack, name, server, getattr(server, fault), alert=alert, dependency=dependency
    )


# --- notification channels --------------------------------------------------------------------


def _ready_throughout(stack: Stack, window: Window) -> None:
    """A fault that is not a readiness matter never takes the instance out of rotation."""
    wait_until(
        lambda: stack.load.since(window.started, "/health/ready"),
        timeout=60,
        message=f"{window.name}: no readiness answer",
    )
    samples = stack.load.since(window.started, "/health/ready")
    statuses = {s.status for s in samples}
    bodies = {s.body for s in samples if s.status != 200}
    assert statuses == {200}, f"{window.name}: readiness answered {statuses}: {bodies}"


def _delivery_fault(
    stack: Stack,
    *,
    name: str,
    drill: str,
    broken: str,
    inject: Callable[[], None],
    repair: Callable[[], None],
) -> None:
    """Break channel ``broken``, fire and resolve an alert, repair: each arrives once."""
    window = _open(stack, name)
    inject()
    stack.fire(drill)
    # The outbox keeps retrying; the backlog alert goes out on the channels that work.
    wait_until(
        lambda: _episodes(stack, window, "NotificationDeliveryFailing")["webhook"]["firing"] >= 1,
        timeout=60,
        message=f"{name}: NotificationDeliveryFailing did not fire",
    )
    window.figures["alert_s"] = round(time.monotonic() - window.started, 2)
    assert _episodes(stack, window, drill)[broken]["firing"] == 0
    repaired = time.monotonic()
    repair()
    wait_until(
        lambda: _episodes(stack, window, drill)[broken]["firing"] >= 1,
        timeout=60,
        message=f"{name}: {drill} not delivered to {broken} after the repair",
    )
    window.figures["delivered_after_repair_s"] = round(time.monotonic() - repaired, 2)
    stack.fire(drill, "resolved")
    _fired_and_resolved_once(stack, window, drill, ("slack", "webhook", "email"))
    # NotificationDeliveryFailing is a warning: Slack and the webhook, not email.
    _fired_and_resolved_once(stack, window, "NotificationDeliveryFailing", ("slack", "webhook"))
    _ready_throughout(stack, window)
    _close(stack, window)


def test_it_delivers_every_notification_once_after_smtp_comes_back(stack: Stack) -> None:
    _delivery_fault(
        stack,
        name="SMTP down",
        drill="SmtpDrill",
        broken="email",
        inject=stack.smtp.down,
        repair=stack.smtp.up,
    )


def test_it_delivers_every_notification_once_after_slack_answered_500(stack: Stack) -> None:
    def inject() -> None:
        stack.slack.status = 500

    def repair() -> None:
        stack.slack.status = 200

    _delivery_fault(
        stack,
        name="Slack answering 500",
        drill="SlackErrorDrill",
        broken="slack",
        inject=inject,
        repair=repair,
    )


def test_it_delivers_every_notification_once_after_slack_timed_out(stack: Stack) -> None:
    # Slower than ALERT_DELIVERY_TIMEOUT_SECONDS (2 s), then a gateway's 504: the receiver
    # never took these, so a retry is not a duplicate.
    def inject() -> None:
        stack.slack.delay, stack.slack.status = 4, 504

    def repair() -> None:
        # The receiver picks its answer after the delay: let the slow requests end with 504
        # first, or one the worker gave up on would count as accepted (a duplicate by design).
        stack.slack.delay = 0
        time.sleep(4.5)
        stack.slack.status = 200

    _delivery_fault(
        stack,
        name="Slack timing out",
        drill="SlackTimeoutDrill",
        broken="slack",
        inject=inject,
        repair=repair,
    )


# --- processes --------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return {int(value) for value in out.split()}


def test_it_keeps_serving_when_a_gunicorn_worker_is_killed(stack: Stack) -> None:
    window = _open(stack, "gunicorn worker killed")
    before = _children(stack.server.pid)
    assert len(before) == 2, before
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    replaced = wait_until(
        lambda: (
            len(_children(stack.server.pid) - before) == 1 and len(_children(stack.server.pid)) == 2
        ),
        timeout=60,
        message="gunicorn did not replace the killed worker",
    )
    assert replaced
    window.figures["replaced_s"] = round(time.monotonic() - window.started, 2)
    time.sleep(3)  # requests on the new worker
    # A request the killed worker was answering loses its connection; nothing answers 5xx.
    _check_requests(stack, window, allow_refused=True)
    _ready_throughout(stack, window)
    refused = [s for s in stack.load.since(window.started) if str(s.status).startswith("no")]
    assert len(refused) <= 1, refused
    window.figures["lost_requests"] = len(refused)
    # /metrics still answers, and keeps the killed process's counts (multiprocess files).
    _check_logs(stack, window)
    stack.tickets_still_there()
    FIGURES[window.name] = window.figures
    print(f"\n{window.name}: {window.figures}")


def test_it_delivers_once_when_the_worker_is_killed_mid_delivery(stack: Stack) -> None:
    window = _open(stack, "background worker killed mid-delivery")
    # Slower than usual but within ALERT_DELIVERY_TIMEOUT_SECONDS (2 s): the worker sits in
    # Slack's request when it dies, and the receiver takes the message after that.
    stack.slack.delay = 1.5
    try:
        fingerprint = stack.fire("KillDrill")

        def sending_to_slack() -> bool:
            rows = stack.get("/api/v1/monitoring/notifications/?status=sending").json()
            return any(
                row["idempotency_key"].startswith(fingerprint)
                and row["idempotency_key"].endswith(":firing:env:slack")
                for row in rows.get("results", rows)
            )

        wait_until(sending_to_slack, timeout=30, interval=0.05, message="never sending")
        stack.stop_worker(signal.SIGKILL)
        killed = time.monotonic()
        stack.slack.delay = 0
        stack.start_worker()
        stack.fire("KillDrill", "resolved")
        _everywhere(stack, window, "KillDrill", "resolved")
        window.figures["redelivered_s"] = round(time.monotonic() - killed, 2)
    finally:
        stack.slack.delay = 0
        if stack.worker is None:
            stack.start_worker()
    time.sleep(2 * EVALUATION + 1)
    episodes = _episodes(stack, window, "KillDrill")
    # At least once, with one key: the Slack request the kill cut short had reached the
    # receiver, so the redelivery after the lease (5 s) is its one duplicate, same key.
    assert episodes["webhook"] == episodes["email"] == Counter({"firing": 1, "resolved": 1})
    assert episodes["slack"]["resolved"] == 1
    assert episodes["slack"]["firing"] in {1, 2}, episodes
    window.figures["duplicates"] = episodes["slack"]["firing"] - 1
    _ready_throughout(stack, window)
    _close(stack, window)


# --- disk -------------------------------------------------------------------------------------


def test_it_survives_the_data_disk_filling_up(stack: Stack) -> None:
    if not stack.mounted:
        pytest.skip("mounting a tmpfs is not allowed here (needs root or CAP_SYS_ADMIN)")
    stack.create_ticket("before the disk filled")
    window = _open(stack, "data and log disk full")
    filler = stack.data / "filler"
    with filler.open("wb") as file, contextlib.suppress(OSError):
        while True:
            file.write(b"\0" * (1 << 20))
            file.flush()
    try:
        window.figures["ready_503_s"] = round(_first(stack, window, "/health/ready", 503), 2)
        wait_until(
            lambda: _episodes(stack, window, "HealthCheckFailing")["slack"]["firing"] >= 1,
            timeout=60,
            message="HealthCheckFailing{check=disk} did not fire",
        )
        window.figures["alert_s"] = round(time.monotonic() - window.started, 2)
        time.sleep(2)  # requests and log lines with the disk full
    finally:
        filler.unlink()
    repaired = time.monotonic()
    _recovered(stack, window, repaired)
    _fired_and_resolved_once(stack, window, "HealthCheckFailing", ("slack", "webhook", "email"))
    _fired_and_resolved_once(stack, window, "DiskSpaceLow", ("slack", "webhook"))
    _close(stack, window)


# --- clock ------------------------------------------------------------------------------------

CLOCK_STEP = str(Path(__file__).with_name("clock_step.py"))
CLOCK_CHANNELS = ("slack", "webhook")  # ClockSkew is a warning: no email


def _step_clock(stack: Stack, sig: int, said: bytes) -> None:
    """Step the worker's wall clock (tests/clock_step.py) and wait until it says so."""
    assert stack.worker is not None
    logged = stack.worker_log.stat().st_size
    stack.worker.send_signal(sig)
    wait_until(
        lambda: said in stack.worker_log.read_bytes()[logged:],
        timeout=30,
        message=f"the worker did not say {said!r}",
    )


def test_it_says_when_the_worker_clock_steps_2_hours_ahead_and_back_and_holds_its_rules(
    stack: Stack,
) -> None:
    # The worker's wall clock only, stepped while it runs (its monotonic clock does not move,
    # as on a real host); the web servers and the database keep the real time. ClockSkew
    # fires, the evaluator holds its other rules (their windows would be read 2 h off), the
    # outbox keeps delivering, and it all resolves when the clock is back.
    window = _open(stack, "worker clock stepped 2 h ahead and back")
    stack.stop_worker()
    started_log = stack.worker_log.stat().st_size
    stack.start_worker((sys.executable, CLOCK_STEP))
    try:
        wait_until(
            lambda: b"started with jobs" in stack.worker_log.read_bytes()[started_log:],
            timeout=90,
            message="the worker did not start",
        )
        _step_clock(stack, signal.SIGUSR1, b"clock stepped ahead")
        stepped = time.monotonic()
        wait_until(
            lambda: all(_episodes(stack, window, "ClockSkew")[c]["firing"] for c in CLOCK_CHANNELS),
            timeout=60,
            message=f"ClockSkew did not fire: {_episodes(stack, window, 'ClockSkew')}",
        )
        window.figures["clock_skew_alert_s"] = round(time.monotonic() - stepped, 2)
        stack.fire("ClockDrill")
        _everywhere(stack, window, "ClockDrill", "firing")
        stack.fire("ClockDrill", "resolved")
        _fired_and_resolved_once(stack, window, "ClockDrill", ("slack", "webhook", "email"))
        _step_clock(stack, signal.SIGUSR2, b"clock stepped back")
        _fired_and_resolved_once(stack, window, "ClockSkew", CLOCK_CHANNELS)
        # Times it wrote 2 h ahead (its heartbeat, the sent rows) do not stop the next alert.
        stack.fire("ClockBackDrill")
        _everywhere(stack, window, "ClockBackDrill", "firing")
        stack.fire("ClockBackDrill", "resolved")
        _fired_and_resolved_once(stack, window, "ClockBackDrill", ("slack", "webhook", "email"))
    finally:
        stack.stop_worker()
        stack.start_worker()
    # Nothing but the drills and ClockSkew fired: the held rules neither fired nor resolved
    # because of the clock (an earlier fault's alert may still resolve in this window; that
    # is its own business).
    names = _names(stack)
    drills = {"ClockDrill", "ClockBackDrill", "ClockSkew"}
    others = [
        (names.get(key.split(":")[0]), key)
        for receiver, start in (
            (stack.slack, window.slack_start),
            (stack.webhook, window.webhook_start),
        )
        for key in _notifications(receiver, start)
        # The host's own CPU and memory alerts are real on a busy machine, not the clock's.
        if ":firing:" in key
        and names.get(key.split(":")[0]) not in {*drills, "HighCPUUsage", "HighMemoryUsage"}
    ]
    said = {
        str(item["json"].get("idempotency_key")): item["json"].get("annotations")
        for item in stack.webhook.accepted[window.webhook_start :]
        if item["json"]
    }
    assert others == [], [(name, key, said.get(key)) for name, key in others]
    _ready_throughout(stack, window)
    _close(stack, window)
