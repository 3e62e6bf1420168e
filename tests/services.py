"""Decide whether a test that needs a real server runs, skips or fails.

Without HELPDESK_REQUIRE_SERVICES a missing server skips the test with a reason (a fresh
laptop); with it set (CI) a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")
REQUIRED = os.environ.get("HELPDESK_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip the current test, or fail it when services are required."""
    if REQUIRED:
        pytest.fail(f"HELPDESK_REQUIRE_SERVICES is set but {reason}")
    pytest.skip(reason)


def require_env(name: str) -> str:
    """Return the variable's value, or skip/fail when it is unset."""
    value = os.environ.get(name, "")
    if not value:
        unavailable(f"{name} is not set")
    return value


def require_binary(name: str) -> str:
    """Return the path of an executable, or skip/fail when it is not installed."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    assert path is not None
    return path


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Return True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(first: int, last: int) -> int:
    """Return a loopback TCP port in first..last nobody listens on (the issue's port range)."""
    for port in range(first, last + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {first}-{last}")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.2,
    message: str = "condition not met in time",
) -> T:
    """Return the first truthy value of ``predicate()``; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message)
