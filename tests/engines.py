"""Run Prometheus and Alertmanager (Debian's binaries) for the tests that need the real ones.

Each engine gets the test's own configuration, data folder and loopback port, is waited for
until ``/-/ready`` answers (a failure to start fails the test with what the engine printed),
and is stopped when the block ends.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.services import require_binary, wait_until


def is_ready(url: str) -> bool:
    """Return True when the Prometheus or Alertmanager at ``url`` says it is ready."""
    try:
        return requests.get(f"{url}/-/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def _engine(args: list[str], port: int, log: Path, timeout: float) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as stderr:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until(lambda: is_ready(url) or process.poll() is not None, timeout=timeout)
        assert process.poll() is None, log.read_text(errors="replace")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def alertmanager(
    config: Path, data: Path, port: int, *, external_url: bool = False, timeout: float = 20.0
) -> Iterator[str]:
    """Run Alertmanager on ``config``; yield its URL once ready.

    ``external_url`` makes the links in its notifications point at this instance.
    """
    binary = require_binary("prometheus-alertmanager")
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    if external_url:
        args.append(f"--web.external-url=http://127.0.0.1:{port}")
    with _engine(args, port, data.with_name(f"{data.name}.log"), timeout) as url:
        yield url


@contextmanager
def prometheus(config: Path, data: Path, port: int, *, timeout: float = 30.0) -> Iterator[str]:
    """Run Prometheus on ``config``; yield its URL once ready."""
    binary = require_binary("prometheus")
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with _engine(args, port, data.with_name(f"{data.name}.log"), timeout) as url:
        yield url
