"""PostgreSQL outages under the real web server: a hung server and a refused one.

A private PostgreSQL (tests/pgserver.py) serves `helpdesk serve` (gunicorn, 2 workers of 2
threads). Paused with SIGSTOP it still accepts TCP connections and never answers, on new and
on already-open connections alike; stopped, it refuses connections. Each time, requests that
need the database must answer 503 with Retry-After and a JSON body instead of hanging or
failing with 500, /health/live must keep answering with requests in flight, /metrics must say
the database is down instead of waiting, the log must not repeat the failure per request, and
the server must recover on its own. Time bounds are generous: they separate "answers within a
timeout" from "hangs until the client gives up", not fast from slow machines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.pgserver import PrivatePostgres, private_postgresql
from tests.services import free_port, wait_until
from tests.web_server import TOKEN, Server, migrate, serve, server_env

pytestmark = pytest.mark.services

PASSWORD = "outage-password-7c1d"
# A client gives up on a request after this: "hangs" means "no answer by then".
CLIENT_TIMEOUT = 30.0


@dataclass
class Outage:
    """The private PostgreSQL, the web server on it, and an API token."""

    pg: PrivatePostgres
    server: Server
    log: Path
    worker_log: Path
    env: dict[str, str]
    api_token: str

    def get(self, path: str, timeout: float = CLIENT_TIMEOUT, **headers: str) -> Any:
        return requests.get(f"{self.server.base}{path}", headers=headers, timeout=timeout)

    def tickets(self) -> requests.Response:
        response: requests.Response = self.get(
            "/api/v1/tickets/", Authorization=f"Bearer {self.api_token}"
        )
        return response

    def metrics(self) -> requests.Response:
        response: requests.Response = self.get("/metrics", Authorization=f"Bearer {TOKEN}")
        return response

    def log_lines(self, start: int = 0, log: Path | None = None) -> list[dict[str, Any]]:
        """Return the JSON lines of ``log`` (the web server's) written after byte ``start``."""
        with (log or self.log).open("rb") as file:
            file.seek(start)
            text = file.read().decode(errors="replace")
        lines = []
        for raw in text.splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"message": raw, "unparsed": True})
        return lines


def _field(line: dict[str, Any], name: str) -> Any:
    """Return an ECS field of a log line, written flat ("log.logger") or nested."""
    if name in line:
        return line[name]
    value: Any = line
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _said_unavailable(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the lines of ``helpdesk.lib.outages`` (a dependency found unavailable)."""
    return [line for line in lines if _field(line, "event.action") == "dependency_unavailable"]


def _logger(line: dict[str, Any]) -> str:
    return str(_field(line, "log.logger"))


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    tmp = tmp_path_factory.mktemp("outage")
    with private_postgresql(free_port(21000, 21249)) as pg:
        with psycopg.connect(pg.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE helpdesk")
        env = server_env(
            tmp / "data",
            DATABASE_URL=pg.url("helpdesk"),
            WEB_CONCURRENCY="2",
            WEB_THREADS="2",
            METRICS_TOKEN=TOKEN,
            LOG_FORMAT="json",
        )
        migrate(env)
        subprocess.run(
            [str(Path(sys.executable).with_name("helpdesk")), "createsuperuser", "--noinput"],
            env={
                **env,
                "DJANGO_SUPERUSER_USERNAME": "ops",
                "DJANGO_SUPERUSER_EMAIL": "ops@example.org",
                "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            },
            check=True,
            capture_output=True,
            timeout=120,
        )
        log, worker_log = tmp / "server.log", tmp / "worker.log"
        # The worker delivers every 0.5 s and evaluates the alert rules every 2 s, so an
        # outage of a few seconds sees many turns of each.
        worker_env = {
            **env,
            "WORKER_DELIVERY_INTERVAL_SECONDS": "0.5",
            "ALERT_EVALUATION_INTERVAL_SECONDS": "2",
        }
        with (
            worker_log.open("wb") as worker_out,
            serve(env, free_port(21250, 21499), stdout=log) as server,
        ):
            worker = subprocess.Popen(
                [str(Path(sys.executable).with_name("helpdesk")), "worker"],
                env=worker_env,
                stdout=worker_out,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until(
                    lambda: b"started with jobs" in worker_log.read_bytes(),
                    timeout=90,
                    message="the worker did not start",
                )
                token = requests.post(
                    f"{server.base}/api/v1/auth/token/",
                    json={"username": "ops", "password": PASSWORD},
                    timeout=30,
                ).json()["token"]
                yield Outage(pg, server, log, worker_log, env, token)
            finally:
                worker.terminate()
                worker.wait(30)


def _timed(call: Callable[[], requests.Response]) -> tuple[float, requests.Response | Exception]:
    started = time.monotonic()
    try:
        result: requests.Response | Exception = call()
    except requests.RequestException as error:
        result = error
    return time.monotonic() - started, result


def _assert_unavailable(result: requests.Response | Exception) -> None:
    assert isinstance(result, requests.Response), f"no answer: {result!r}"
    assert result.status_code == 503, result.text[:300]
    assert result.headers["Content-Type"] == "application/json"
    assert int(result.headers["Retry-After"]) >= 1
    assert "unavailable" in result.json()["detail"]


class LivenessProbe:
    """Probe /health/live every 0.2 s in a thread; keep each answer's status and latency."""

    def __init__(self, outage: Outage) -> None:
        self.outage = outage
        self.answers: list[tuple[float, int | str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            elapsed, result = _timed(lambda: self.outage.get("/health/live", timeout=15))
            status = result.status_code if isinstance(result, requests.Response) else "no answer"
            self.answers.append((elapsed, status))
            self._stop.wait(0.2)

    def __enter__(self) -> LivenessProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(20)


def test_it_answers_503_and_stays_live_while_postgresql_hangs(outage: Outage) -> None:
    # Every thread of both workers holds an open connection before the server hangs.
    with ThreadPoolExecutor(8) as pool:
        assert {r.status_code for r in pool.map(lambda _: outage.tickets(), range(8))} == {200}
    outage.pg.pause()
    try:
        with LivenessProbe(outage) as probe, ThreadPoolExecutor(10) as pool:
            lists = [pool.submit(_timed, outage.tickets) for _ in range(8)]
            scrapes = [pool.submit(_timed, outage.metrics) for _ in range(2)]
            ticket_results = [future.result() for future in lists]
            scrape_results = [future.result() for future in scrapes]
            time.sleep(1.0)  # a few more probes after the requests ended
    finally:
        outage.pg.resume()
    for _elapsed, result in ticket_results:
        _assert_unavailable(result)
    slowest = max(elapsed for elapsed, _ in ticket_results)
    assert slowest < 15, f"a ticket list took {slowest:.1f}s to answer"
    for elapsed, result in scrape_results:
        assert isinstance(result, requests.Response), f"no /metrics answer: {result!r}"
        assert result.status_code == 200
        assert 'helpdesk_db_inspector_up{vendor="postgresql"} 0.0' in result.text
        assert elapsed < 15, f"/metrics took {elapsed:.1f}s"
    assert probe.answers, "no liveness probe finished"
    assert {status for _, status in probe.answers} == {200}, probe.answers
    worst = max(elapsed for elapsed, _ in probe.answers)
    assert worst < 10, f"/health/live took {worst:.1f}s"
    print(
        f"\nhung PostgreSQL: ticket lists answered 503 in "
        f"{min(e for e, _ in ticket_results):.2f}-{slowest:.2f}s; /metrics in "
        f"{max(e for e, _ in scrape_results):.2f}s; /health/live {len(probe.answers)} probes, "
        f"worst {worst:.2f}s"
    )
    # Recovery without a restart.
    wait_until(lambda: outage.tickets().status_code == 200, timeout=30, interval=0.5)


def test_it_answers_503_and_logs_once_while_postgresql_refuses(outage: Outage) -> None:
    # Both workers keep an inspector report in their cache (after another test's outage,
    # once they tried the database again).
    up = 'helpdesk_db_inspector_up{vendor="postgresql"} 1.0'
    wait_until(lambda: all(up in outage.metrics().text for _ in range(4)), timeout=30)
    web_start, worker_start = outage.log.stat().st_size, outage.worker_log.stat().st_size
    outage.pg.stop()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: _timed(outage.tickets), range(40)))
        time.sleep(2.5)  # the health report of the last scrape is cached for 2 s
        scrapes, probes = [], []
        for _ in range(3):  # three rounds of probes and scrapes
            scrapes.append(outage.metrics())
            probes += [outage.get("/health/ready"), outage.get("/health/")]
        time.sleep(max(0.0, 8.0 - (time.monotonic() - started)))
    finally:
        outage.pg.start()
    for _elapsed, result in results:
        _assert_unavailable(result)
    assert {probe.status_code for probe in probes} == {503}
    for scrape in scrapes:  # the cached inspector report does not hide the outage
        assert 'helpdesk_db_inspector_up{vendor="postgresql"} 0.0' in scrape.text

    web = outage.log_lines(web_start)
    worker = outage.log_lines(worker_start, outage.worker_log)
    requests_seen = len([line for line in web if _logger(line) == "helpdesk.access"])
    others = [line for line in web if _logger(line) != "helpdesk.access"]
    print(
        f"\nrefused PostgreSQL, 8 s: {requests_seen} access lines, {len(others)} other web "
        f"lines, {len(worker)} worker lines"
    )
    for line in [*others, *worker]:
        assert _field(line, "error.stack_trace") is None, line
        assert _logger(line) != "django.request", line
    assert len(_said_unavailable(web)) <= 2  # once per web process
    # Per web process: at most the outage line and one status line per health check.
    assert len(others) <= 2 * 6, [line.get("message") for line in others]
    # The worker: one outage line for all its jobs and turns (16 delivery turns and four
    # evaluations in the window), plus what it did about it (the readiness alert).
    assert len(_said_unavailable(worker)) <= 1, worker
    assert len(worker) <= 6, [line.get("message") for line in worker]
    assert _said_unavailable(outage.log_lines())
    assert _said_unavailable(outage.log_lines(0, outage.worker_log))
    wait_until(lambda: outage.tickets().status_code == 200, timeout=30, interval=0.5)
