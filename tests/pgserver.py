"""A private PostgreSQL server for outage tests: its own data folder, port and processes.

``private_postgresql(port)`` runs initdb in a temporary folder (as the ``postgres`` OS user
when run as root: initdb refuses root) and starts the server on ``port``. The yielded
``PrivatePostgres`` can then be paused (SIGSTOP to the postmaster and every backend: a hung
server that still accepts TCP connections and never answers), resumed, stopped (connections
refused) and started again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.services import unavailable

BINDIR = Path("/usr/lib/postgresql/15/bin")


def as_postgres(command: list[str]) -> list[str]:
    """Return ``command`` run as the postgres OS user when this process is root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PrivatePostgres:
    """A PostgreSQL server this test started (see the module docstring)."""

    folder: Path
    port: int
    options: str

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            as_postgres([str(BINDIR / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        self.pg_ctl("-o", self.options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "immediate", "-w", "stop")

    def pids(self) -> list[int]:
        """Return the postmaster's pid and its children's."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(postmaster)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        return [postmaster, *map(int, children)]

    def pause(self) -> None:
        """Stop every process of the server (SIGSTOP): TCP still connects, nothing answers."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)


@contextmanager
def private_postgresql(port: int, options: str = "") -> Iterator[PrivatePostgres]:
    """Run a fresh PostgreSQL 15 on 127.0.0.1:``port`` until the block ends."""
    if not (BINDIR / "initdb").exists():
        unavailable(f"PostgreSQL 15 binaries are not installed in {BINDIR}")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable("runuser is needed to run initdb as the postgres user")
    folder = Path(tempfile.mkdtemp(prefix="helpdesk-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PrivatePostgres(
        folder,
        port,
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off {options}".strip(),
    )
    subprocess.run(
        as_postgres(
            [str(BINDIR / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        try:
            server.resume()
            server.stop()
        except (OSError, subprocess.CalledProcessError):
            pass
        shutil.rmtree(folder, ignore_errors=True)
