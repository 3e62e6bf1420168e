"""Login-failure counters shared by two real web servers through Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.services import port_open, require_env, unavailable

pytestmark = pytest.mark.services


def _free_port_in_range(start: int = 18900, end: int = 18999) -> int:
    for port in range(start, end):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18900-18999")


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[str]]:
    redis_url = require_env("REDIS_URL")
    if not port_open("127.0.0.1", 6379):
        unavailable("Redis is not running on 127.0.0.1:6379")
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env.update(
        {
            "HELPDESK_DATA_DIR": str(tmp_path / "data"),
            "HELPDESK_ENV": "test",
            "REDIS_URL": redis_url,
            "LOG_FILES": "0",
            "WEB_CONCURRENCY": "1",
            "WEB_THREADS": "2",
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        }
    )
    subprocess.run([str(bindir / "helpdesk"), "migrate", "-v0"], env=env, check=True, timeout=180)
    procs, bases = [], []
    try:
        for _ in range(2):
            port = _free_port_in_range()
            proc = subprocess.Popen(
                [str(bindir / "helpdesk"), "serve"],
                env={**env, "PORT": str(port)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            procs.append(proc)
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    requests.get(f"{base}/api/v1/auth/token/", timeout=5)
                    break
                except requests.RequestException:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"server on {port} did not start") from None
                    time.sleep(0.2)
            bases.append(base)
        yield bases
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:  # pragma: no cover
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_it_shares_failure_counters_between_two_servers(two_servers: list[str]) -> None:
    first, second = two_servers
    body = {"username": "nobody", "password": "wrong"}
    statuses = []
    for index in range(6):
        base = first if index % 2 == 0 else second
        statuses.append(requests.post(f"{base}/api/v1/auth/token/", json=body, timeout=10))
    # Five failures across both servers lock the address on both.
    assert [r.status_code for r in statuses] == [400, 400, 400, 400, 429, 429]
    assert statuses[-1].headers["Retry-After"]
    locked = requests.post(f"{first}/api/v1/auth/token/", json=body, timeout=10)
    assert locked.status_code == 429
