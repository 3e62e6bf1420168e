"""A private redis-server for outage tests: its own port, stopped, started or paused.

``private_redis(port, folder)`` runs ``redis-server`` without persistence on 127.0.0.1:``port``.
``pause()`` sends SIGSTOP (connections are accepted by the kernel, nothing answers),
``resume()`` SIGCONT; ``stop()`` ends it (connections refused) and ``start()`` runs it again on
the same port, empty.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.services import port_open, unavailable, wait_until


class PrivateRedis:
    """A redis-server this test runs (see the module docstring)."""

    def __init__(self, binary: str, port: int, folder: Path) -> None:
        self.binary, self.port, self.folder = binary, port, folder
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open("127.0.0.1", self.port), timeout=20)

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()
            self.proc.terminate()
            self.proc.wait(20)
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)


@contextmanager
def private_redis(port: int, folder: Path) -> Iterator[PrivateRedis]:
    """Run a redis-server on 127.0.0.1:``port`` until the block ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    assert binary is not None
    server = PrivateRedis(binary, port, folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
