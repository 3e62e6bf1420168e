"""Count instructions with valgrind's callgrind: the helpers the instruction benchmarks share.

A benchmark runs each configuration as a child process of itself under callgrind with
instrumentation off (``count``); the child sets up and warms up, then switches counting on
around the loop it measures (``counting``). Instructions, unlike seconds, are the same for the
same binary, inputs and environment whatever else the machine is doing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def available() -> bool:
    """Return True when valgrind is installed (Debian package valgrind)."""
    return shutil.which("valgrind") is not None


@contextmanager
def counting() -> Iterator[None]:
    """Count this process's instructions (under callgrind) only inside the block."""
    control = [shutil.which("callgrind_control") or "callgrind_control", "-i"]
    pid = str(os.getpid())
    subprocess.run([*control, "on", pid], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([*control, "off", pid], check=True, capture_output=True)


def count(script: str, *args: str) -> int:
    """Run ``python script --child args…`` under callgrind; return the instructions counted."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                script,
                "--child",
                *args,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=False,
        )
        match = re.search(r"Collected : (\d+)", result.stderr)
        if result.returncode != 0 or not match:
            raise SystemExit(f"{' '.join(args)} failed under callgrind:\n{result.stderr[-2000:]}")
        return int(match.group(1))
