"""Login-failure counters shared by two real web servers through Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.services import free_port, port_open, require_env, unavailable
from tests.web_server import migrate, serve, server_env

pytestmark = pytest.mark.services


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[str]]:
    redis_url = require_env("REDIS_URL")
    if not port_open("127.0.0.1", 6379):
        unavailable("Redis is not running on 127.0.0.1:6379")
    env = server_env(tmp_path / "data", REDIS_URL=redis_url, WEB_CONCURRENCY="1")
    migrate(env)
    with ExitStack() as servers:
        bases = [
            servers.enter_context(
                serve(env, free_port(18900, 18999), stdout=tmp_path / f"server-{n}.log")
            ).base
            for n in range(2)
        ]
        yield bases


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
