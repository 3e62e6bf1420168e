"""Redis outages and login: a private redis-server stopped and paused under the token endpoint.

With Redis refusing or hung, ``POST /api/v1/auth/token/`` with the right password must issue
a token (not 500, not hang), wrong passwords must still be limited, and the degraded mode must
be visible (a security event, ``helpdesk_security_lockout_degraded``) and end on its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from helpdesk.monitoring.security.models import SecurityEvent
from tests.redisserver import PrivateRedis, private_redis
from tests.services import free_port

pytestmark = [pytest.mark.services, pytest.mark.django_db]

PASSWORD = "correct horse battery"


@pytest.fixture
def shared_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """The default and security caches on a private redis-server."""
    with private_redis(free_port(21000, 21499), tmp_path) as server:
        cache = {
            "BACKEND": "helpdesk.monitoring.metrics.cache.RedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": "helpdesk",
            "OPTIONS": {"socket_connect_timeout": 3, "socket_timeout": 3},
        }
        caches = {alias: {**cache, "ALIAS": alias} for alias in ("default", "security")}
        with override_settings(REDIS_URL=server.url, CACHES=caches):
            yield server


def token(username: str = "alice", password: str = PASSWORD) -> Any:
    return Client().post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
    )


def degraded() -> float | None:
    return REGISTRY.get_sample_value("helpdesk_security_lockout_degraded")


def actions() -> list[str]:
    return list(SecurityEvent.objects.order_by("id").values_list("action", flat=True))


def test_it_issues_a_token_while_redis_refuses(shared_redis: PrivateRedis, alice: Any) -> None:
    assert token().status_code == 201
    shared_redis.stop()
    response = token()
    assert response.status_code == 201, response.content
    assert response.json()["token"]
    assert "sys_monitor_disabled" in actions()
    assert degraded() == 1


@override_settings(SECURITY_LOGIN_FAILURE_LIMIT=3)
def test_it_keeps_limiting_wrong_passwords_while_redis_refuses(
    shared_redis: PrivateRedis, alice: Any
) -> None:
    shared_redis.stop()
    statuses = [token(password="wrong").status_code for _ in range(4)]
    assert statuses == [400, 400, 429, 429]
    locked = token()  # the right password from the locked address
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0


def test_it_does_not_wait_on_a_hung_redis_for_every_login(
    shared_redis: PrivateRedis, alice: Any
) -> None:
    shared_redis.pause()
    try:
        started = time.monotonic()
        statuses = [token().status_code for _ in range(5)]
        elapsed = time.monotonic() - started
    finally:
        shared_redis.resume()
    assert statuses == [201] * 5
    # Each login uses two caches that time out after 3 s: waiting on Redis in every login
    # would take 30 s, once per cache 6 s (plus the password hashing).
    assert elapsed < 15, f"five logins took {elapsed:.1f}s"


@override_settings(SECURITY_CACHE_RETRY_SECONDS=0.5, SECURITY_LOGIN_FAILURE_LIMIT=3)
def test_it_returns_to_redis_when_it_answers_again(shared_redis: PrivateRedis, alice: Any) -> None:
    shared_redis.stop()
    assert token().status_code == 201
    assert degraded() == 1
    shared_redis.start()
    time.sleep(0.6)
    assert token().status_code == 201
    assert degraded() == 0
    assert actions()[-3:].count("sys_monitor_enabled") == 1
    for _ in range(3):
        token(password="wrong")
    client = redis.Redis.from_url(shared_redis.url)
    assert list(client.scan_iter("*security:lock:ip:*")), "the lockout is in Redis again"
