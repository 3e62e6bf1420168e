"""Load a URL with wrk (/usr/bin/wrk, Debian's) and read its figures: the one wrk runner of the
benchmarks."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

WRK = "/usr/bin/wrk"


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    rps: float
    p99_ms: float
    non_2xx: int
    requests: int


def wrk(url: str, duration: int, connections: int, script: Path | None = None) -> Load:
    """Run ``wrk -t2 -c<connections> -d<duration>s --latency`` (with a Lua ``script``)."""
    command = [WRK, "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "15s"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Requests/sec" not in out:
        raise SystemExit(f"wrk failed: {out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Load(rps, p99, int(bad.group(1)) if bad else 0, total)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(master: int) -> float:
    """Return the CPU time (user + system) a server's worker processes (children of ``master``)
    used so far."""
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, check=False
    )
    total = 0.0
    for pid in out.stdout.split():
        fields = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


@contextmanager
def scratch_database(url: str) -> Iterator[None]:
    """Create the PostgreSQL database ``url`` names, empty, and drop it afterwards."""
    import psycopg

    admin, _, name = url.rpartition("/")
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
