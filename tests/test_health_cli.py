"""`helpdesk healthcheck` exit codes against a live gunicorn (`helpdesk serve`) on SQLite, and
`--worker` against a real heartbeat row."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tcp import closed_port

BIN = Path(sys.executable).parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS"))}
    env.update(
        {
            "HELPDESK_DATA_DIR": str(tmp_path / "data"),
            "HELPDESK_ENV": "test",
            "LOG_FILES": "0",
            "WEB_CONCURRENCY": "1",
            "WEB_THREADS": "2",
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        }
    )
    env.update(extra)
    return env


def _helpdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "helpdesk"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., dict[str, str]]]:
    """Start `helpdesk serve` with extra environment; returns the environment (with PORT)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, **extra: str) -> dict[str, str]:
        env = _env(tmp_path / name, PORT=str(closed_port()), **extra)
        assert _helpdesk(env, "migrate", "-v0").returncode == 0
        proc = subprocess.Popen(
            [str(BIN / "helpdesk"), "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(proc)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{env['PORT']}/health/live", timeout=5)
                return env
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)

    yield start
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_it_exits_0_for_live_and_ready_on_a_healthy_server(serve: Any) -> None:
    env = serve("healthy")
    live = _helpdesk(env, "healthcheck")
    assert live.returncode == 0, live.stderr
    assert "/health/live answered 200" in live.stdout
    ready = _helpdesk(env, "healthcheck", "--ready")
    assert ready.returncode == 0, ready.stderr
    assert "/health/ready answered 200" in ready.stdout


def test_it_exits_1_for_ready_when_a_critical_dependency_is_down(serve: Any) -> None:
    env = serve("no-redis", REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    assert _helpdesk(env, "healthcheck").returncode == 0  # the process is alive
    ready = _helpdesk(env, "healthcheck", "--ready")
    assert ready.returncode == 1
    assert "answered 503" in ready.stdout
    full = _helpdesk(env, "healthcheck", "--url", f"http://127.0.0.1:{env['PORT']}/health/")
    assert full.returncode == 1


def test_it_exits_1_when_nothing_answers(tmp_path: Path) -> None:
    result = _helpdesk(_env(tmp_path, PORT=str(closed_port())), "healthcheck", "--ready")
    assert result.returncode == 1
    assert "unreachable" in result.stderr


def test_it_refuses_a_url_that_is_not_http(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for probes")
    result = _helpdesk(_env(tmp_path), "healthcheck", "--url", f"file://{secret}")
    assert result.returncode == 1
    assert "not an http(s) URL" in result.stderr
    assert "not for probes" not in result.stdout + result.stderr


def test_it_checks_this_hosts_worker_heartbeat(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _helpdesk(env, "migrate", "-v0").returncode == 0
    before = _helpdesk(env, "healthcheck", "--worker")
    assert before.returncode == 1
    assert "no worker heartbeat from this host" in before.stderr
    beat = "from helpdesk.monitoring.alerting.worker import Worker; Worker([]).heartbeat()"
    assert _helpdesk(env, "shell", "-c", beat).returncode == 0
    after = _helpdesk(env, "healthcheck", "--worker")
    assert after.returncode == 0, after.stderr
    stale = _helpdesk({**env, "WORKER_HEARTBEAT_STALE_SECONDS": "-1"}, "healthcheck", "--worker")
    assert stale.returncode == 1
