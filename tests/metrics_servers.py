"""Run the real web server (gunicorn, two workers, multiprocess metrics) for metrics tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

TOKEN = "metrics-token-for-the-real-server-0123456789"


def free_port(low: int, high: int) -> int:
    """Return a free TCP port in [low, high] (the range this package's tests may use)."""
    for port in range(low, high + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


@contextmanager
def gunicorn_server(
    tmp_path: Path, port: int, workers: int = 2
) -> Iterator[tuple[str, str, Path, subprocess.Popen[bytes]]]:
    """Run `helpdesk serve` on SQLite; yield (base URL, metrics token, data dir, process)."""
    data = tmp_path / "data"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS", "PROMETHEUS_MULTIPROC_DIR"))
    }
    env.update(
        {
            "HELPDESK_DATA_DIR": str(data),
            "HELPDESK_ENV": "test",
            "LOG_FILES": "0",
            "ACCESS_LOG": "0",
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "WEB_THREADS": "2",
            "METRICS_TOKEN": TOKEN,
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        }
    )
    # A previous run's file: the server must empty the folder when it starts.
    stale = data / "prometheus-multiproc" / "counter_999999.db"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"stale")
    bindir = Path(sys.executable).parent
    subprocess.run(
        [str(bindir / "helpdesk"), "migrate", "-v0"],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [str(bindir / "helpdesk"), "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/metrics", timeout=10)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "server.log").read_text()) from None
                time.sleep(0.2)
        yield base, TOKEN, data, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
