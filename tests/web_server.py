"""Run the real web server (`helpdesk serve`: gunicorn and its workers) for process tests.

Metrics shared between workers, login-failure counters shared between servers and log files
shared between workers are only real with real processes: these helpers start them on SQLite
under the test's own folder and stop the whole process group afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import requests

TOKEN = "metrics-token-for-the-real-server-0123456789"
_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Server:
    """A running `helpdesk serve`: its base URL, data folder and master process."""

    base: str
    data: Path
    proc: subprocess.Popen[bytes]


def server_env(data: Path, **settings: str) -> dict[str, str]:
    """Return a server's environment: SQLite under ``data``, no outside services, ``settings``.

    The test run's own DATABASE_URL, REDIS_URL and metrics folder are left out, so a server
    never shares state with the tests or another server unless ``settings`` say so.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "REDIS", "PROMETHEUS_MULTIPROC_DIR"))
    }
    env.update(
        {
            "HELPDESK_DATA_DIR": str(data),
            "HELPDESK_ENV": "test",
            "LOG_FILES": "0",
            "WEB_THREADS": "2",
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            **settings,
        }
    )
    return env


def helpdesk(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """Run ``helpdesk <args>`` with ``env``; return its stdout (raise if it fails)."""
    return subprocess.run(
        [str(_BIN / "helpdesk"), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    ).stdout


def migrate(env: dict[str, str]) -> None:
    """Create the database the servers started with ``env`` will use."""
    helpdesk(env, "migrate", "-v0")


@contextmanager
def serve(
    env: dict[str, str],
    port: int,
    *,
    stdout: Path,
    stderr: Path | None = None,
    ready: str = "/api/v1/auth/token/",
) -> Iterator[Server]:
    """Run `helpdesk serve` on ``port`` until the block ends; yield once ``ready`` answers.

    The server's stdout goes to ``stdout`` and its stderr to ``stderr`` (or to stdout's
    file). A server that exits or does not answer within a minute fails the test with what
    it printed.
    """
    outputs = [stdout] if stderr is None else [stdout, stderr]
    with ExitStack() as files:
        out = files.enter_context(stdout.open("wb"))
        err = subprocess.STDOUT if stderr is None else files.enter_context(stderr.open("wb"))
        proc = subprocess.Popen(
            [str(_BIN / "helpdesk"), "serve"],
            env={**env, "PORT": str(port)},
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}{ready}", timeout=10)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    printed = "".join(path.read_text(errors="replace") for path in outputs)
                    raise AssertionError(f"server on {port} did not start:\n{printed}") from None
                time.sleep(0.2)
        yield Server(base, Path(env["HELPDESK_DATA_DIR"]), proc)
    finally:
        with suppress(ProcessLookupError):  # a server that failed to start is gone already
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def gunicorn_server(
    tmp_path: Path, port: int, workers: int = 2
) -> Iterator[tuple[str, str, Path, subprocess.Popen[bytes]]]:
    """Run a metrics server (``workers`` workers); yield (base URL, token, data dir, process)."""
    data = tmp_path / "data"
    env = server_env(data, ACCESS_LOG="0", WEB_CONCURRENCY=str(workers), METRICS_TOKEN=TOKEN)
    # A previous run's file: the server must empty the folder when it starts.
    stale = data / "prometheus-multiproc" / "counter_999999.db"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"stale")
    migrate(env)
    with serve(env, port, stdout=tmp_path / "server.log", ready="/metrics") as server:
        yield server.base, TOKEN, server.data, server.proc
