"""Brute-force lockout: counters per IP and per account, cool-off, 429 on every login door."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.test import APIClient

from helpdesk.monitoring.security.lockout import engine
from helpdesk.monitoring.security.models import SecurityEvent

PASSWORD = "correct horse battery"
TOKEN_URL = "/api/v1/auth/token/"


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr(engine, "clock", fake)
    yield fake


def token_login(username: str, password: str, ip: str, **extra: Any) -> Any:
    return APIClient().post(
        TOKEN_URL, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )


def test_it_locks_an_ip_after_exactly_the_limit(alice: Any, clock: FakeClock) -> None:
    ip = "203.0.113.10"
    for index in range(4):
        assert token_login(f"nobody{index}", "wrong", ip).status_code == 400
    response = token_login("nobody5", "wrong", ip)
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 900
    assert "Try again in 900 seconds" in response.json()["detail"]
    # Locked: even the right password from this address is refused, before it is checked.
    assert token_login("alice", PASSWORD, ip).status_code == 429
    # Another address is not affected.
    assert token_login("alice", PASSWORD, "203.0.113.11").status_code == 201
    locks = SecurityEvent.objects.filter(action="authn_login_lock")
    assert [e.details["scope"] for e in locks] == ["ip"]


def test_it_locks_an_account_after_exactly_the_limit(alice: Any, clock: FakeClock) -> None:
    for index in range(4):
        assert token_login("alice", "wrong", f"198.51.100.{index}").status_code == 400
    response = token_login("alice", "wrong", "198.51.100.4")
    assert response.status_code == 429
    assert "this account" in response.json()["detail"]
    # An address that failed recently cannot get in, even with the right password...
    assert token_login("alice", PASSWORD, "198.51.100.1").status_code == 429
    # ...but the owner, from a clean address, still can: lockout is not a DoS tool.
    assert token_login("alice", PASSWORD, "192.0.2.50").status_code == 201


@override_settings(SECURITY_LOCKOUT_ALLOW_CLEAN_IP=False)
def test_it_can_lock_an_account_for_every_address(alice: Any, clock: FakeClock) -> None:
    for index in range(5):
        token_login("alice", "wrong", f"198.51.100.{index}")
    assert token_login("alice", PASSWORD, "192.0.2.50").status_code == 429


def test_it_lifts_the_lockout_after_the_cool_off(alice: Any, clock: FakeClock) -> None:
    ip = "203.0.113.20"
    for _ in range(5):
        token_login("alice", "wrong", ip)
    clock.now += 899
    response = token_login("alice", PASSWORD, ip)
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    clock.now += 2
    assert token_login("alice", PASSWORD, ip).status_code == 201


@override_settings(SECURITY_LOCKOUT_PROGRESSIVE=True, SECURITY_LOCKOUT_SECONDS=60)
def test_it_doubles_a_repeated_lockout_when_progressive(alice: Any, clock: FakeClock) -> None:
    ip = "203.0.113.21"
    for _ in range(5):
        first = token_login("bob", "wrong", ip)
    assert first["Retry-After"] == "60"
    clock.now += 61 + 600  # past the lockout and the failure window
    for _ in range(5):
        second = token_login("bob", "wrong", ip)
    assert second["Retry-After"] == "120"


def test_it_forgets_failures_outside_the_window(alice: Any, clock: FakeClock) -> None:
    ip = "203.0.113.22"
    for _ in range(4):
        token_login("nobody", "wrong", ip)
    clock.now += 2 * 300 + 1
    assert token_login("nobody", "wrong", ip).status_code == 400


def test_it_answers_429_on_the_session_login_form(alice: Any, clock: FakeClock) -> None:
    client = Client(REMOTE_ADDR="203.0.113.30")
    for _ in range(4):
        response = client.post("/api/v1/auth/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    response = client.post("/api/v1/auth/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert response["Content-Type"].startswith("text/html")
    assert b"Too many failed login attempts" in response.content


def test_it_answers_429_on_the_admin_login(django_user_model: Any, clock: FakeClock) -> None:
    django_user_model.objects.create_user("root", password=PASSWORD, is_staff=True)
    client = Client(REMOTE_ADDR="203.0.113.31")
    for _ in range(5):
        response = client.post("/admin/login/", {"username": "root", "password": "wrong"})
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 429


def test_it_ignores_a_spoofed_forwarded_header_from_an_untrusted_peer(
    alice: Any, clock: FakeClock
) -> None:
    ip = "203.0.113.40"
    for index in range(5):
        token_login("nobody", "wrong", ip, HTTP_X_FORWARDED_FOR=f"10.9.9.{index}")
    # A fresh forged address neither moves the attacker to a new counter nor resets it.
    response = token_login("alice", PASSWORD, ip, HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429
    response = token_login("alice", PASSWORD, ip, HTTP_FORWARDED="for=192.0.2.98")
    assert response.status_code == 429
    assert engine.failures("ip", "10.9.9.0") == 0
    assert engine.failures("ip", ip) == 5


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_it_counts_the_client_behind_a_trusted_proxy_chain(alice: Any, clock: FakeClock) -> None:
    chain = "6.6.6.6, 198.51.100.77, 10.1.2.3"  # forged left part, client, inner proxy
    for _ in range(5):
        response = token_login("nobody", "wrong", "10.0.0.1", HTTP_X_FORWARDED_FOR=chain)
    assert response.status_code == 429
    assert engine.failures("ip", "198.51.100.77") == 5
    assert engine.failures("ip", "6.6.6.6") == 0
    assert engine.failures("ip", "10.0.0.1") == 0
    # Other clients behind the same proxy are not locked out with the attacker.
    other = token_login("alice", PASSWORD, "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.78")
    assert other.status_code == 201


def test_it_records_success_after_failures_and_resets_the_account(
    alice: Any, clock: FakeClock
) -> None:
    token_login("alice", "wrong", "192.0.2.1")
    token_login("alice", "wrong", "192.0.2.1")
    assert token_login("alice", PASSWORD, "192.0.2.1").status_code == 201
    event = SecurityEvent.objects.filter(action="authn_login_successafterfail").get()
    assert event.details["retries"] == 2
    assert event.user_id == alice.pk
    token_login("alice", PASSWORD, "192.0.2.1")
    assert SecurityEvent.objects.filter(action="authn_login_success").count() == 1
    # The IP keeps its failures: one valid account must not reset an attacker's counter.
    assert engine.failures("ip", "192.0.2.1") == 2


def test_it_unlocks_with_the_command(alice: Any, clock: FakeClock) -> None:
    for _ in range(5):
        token_login("alice", "wrong", "203.0.113.50")
    assert token_login("alice", PASSWORD, "203.0.113.50").status_code == 429
    call_command("security_unlock", ip="203.0.113.50")
    # The account lock still holds for an address with failures; unlock the account too.
    call_command("security_unlock", user="alice")
    assert token_login("alice", PASSWORD, "203.0.113.50").status_code == 201
    assert SecurityEvent.objects.filter(action="authn_login_unlock").count() == 2


def test_it_unlocks_through_the_api_for_staff(
    alice: Any, django_user_model: Any, clock: FakeClock
) -> None:
    staff = django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True)
    for _ in range(5):
        token_login("nobody", "wrong", "203.0.113.51")
    client = APIClient()
    client.force_authenticate(staff)
    listed = client.get("/api/v1/monitoring/security/lockouts/").json()
    assert [lock["key"] for lock in listed["ip"]] == ["203.0.113.51"]
    response = client.post(
        "/api/v1/monitoring/security/lockouts/unlock/", {"ip": "203.0.113.51"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"unlocked": True}
    assert token_login("alice", PASSWORD, "203.0.113.51").status_code == 201
    bad = client.post("/api/v1/monitoring/security/lockouts/unlock/", {}, format="json")
    assert bad.status_code == 400


def test_it_reports_active_lockouts_in_the_gauge(alice: Any, clock: FakeClock) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from helpdesk.monitoring.security.collector import SecurityCollector

    for index in range(5):
        token_login("alice", "wrong", f"203.0.113.{60 + index // 5}")
    registry = CollectorRegistry()
    registry.register(SecurityCollector())
    text = generate_latest(registry).decode()
    assert 'helpdesk_security_lockouts{scope="ip"} 1.0' in text
    assert 'helpdesk_security_lockouts{scope="account"} 1.0' in text
    # Usernames never become labels.
    assert "alice" not in text


def test_it_warns_when_counters_are_per_process() -> None:
    from helpdesk.monitoring.security.checks import cache_is_shared

    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    with override_settings(CACHES={"default": locmem, "security": locmem}):
        [warning] = cache_is_shared()
    assert warning.id == "security.W001"
    assert cache_is_shared() == []  # the test settings: a file cache, outside production
