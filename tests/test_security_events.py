"""The security event bus and the events the product publishes (OWASP vocabulary)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from helpdesk.accounts.models import Membership, Role
from helpdesk.monitoring.logging.formatters import ECSFormatter
from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.metrics import SECURITY_EVENTS
from helpdesk.monitoring.security.models import AppendOnlyError, SecurityEvent
from helpdesk.monitoring.security.usernames import hash_username
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
SECRET_PASSWORD = "Tr0ub4dor&3-secret-guess"


def actions() -> list[str]:
    return list(SecurityEvent.objects.order_by("id").values_list("action", flat=True))


def test_it_calls_subscribers_with_cleaned_fields() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def callback(action: str, **fields: Any) -> None:
        seen.append((action, fields))

    events.subscribe(callback)
    events.subscribe(callback)  # once per callback
    try:
        events.publish(
            "authn_login_fail",
            username="Alice",
            password="hunter2",
            session_key="abc",
            api_token="hdk_x",
            cookie="sessionid=1",
            ip="192.0.2.1",
        )
    finally:
        events.unsubscribe(callback)
    [(action, fields)] = seen
    assert action == "authn_login_fail"
    assert fields["ip"] == "192.0.2.1"
    assert fields["outcome"] == "failure"
    assert fields["username_hash"] == hash_username("alice")
    assert not {"username", "password", "session_key", "api_token", "cookie"} & set(fields)


def test_it_refuses_an_action_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="unknown security event"):
        events.publish("login_failed")


def test_it_keeps_going_when_a_subscriber_fails() -> None:
    def broken(action: str, **fields: Any) -> None:
        raise RuntimeError("boom")

    events.subscribe(broken)
    try:
        events.publish("malicious_probe_path", ip="192.0.2.7", reason="/.env")
    finally:
        events.unsubscribe(broken)
    assert actions() == ["malicious_probe_path"]


def test_it_keeps_stored_events_append_only() -> None:
    events.publish("authz_fail", ip="192.0.2.8")
    event = SecurityEvent.objects.get()
    event.reason = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


def test_it_counts_events_by_type() -> None:
    before = SECURITY_EVENTS.labels(type="malicious_attack_tool")._value.get()
    events.publish("malicious_attack_tool", ip="192.0.2.9")
    assert SECURITY_EVENTS.labels(type="malicious_attack_tool")._value.get() == before + 1


def test_it_logs_ecs_fields(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="helpdesk.security"):
        events.publish("authn_login_fail", ip="192.0.2.10", username="mallory-guess", reason="x")
    [record] = [r for r in caplog.records if r.name == "helpdesk.security"]
    line = json.loads(ECSFormatter().format(record))
    assert line["event"]["category"] == ["authentication"]
    assert line["event"]["action"] == "authn_login_fail"
    assert line["event"]["outcome"] == "failure"
    assert line["client"]["ip"] == "192.0.2.10"
    assert "mallory" not in json.dumps(line)
    assert record.levelno == logging.WARNING


def test_it_never_stores_or_logs_secrets(
    alice: Any, caplog: pytest.LogCaptureFixture, django_user_model: Any
) -> None:
    with caplog.at_level(logging.DEBUG):
        # Failed and successful token logins, a token revoked, session logins and logout.
        api = APIClient()
        api.post("/api/v1/auth/token/", {"username": "alice", "password": SECRET_PASSWORD})
        raw = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}).json()[
            "token"
        ]
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert api.delete("/api/v1/auth/token/").status_code == 204
        browser = Client()
        browser.post("/api/v1/auth/login/", {"username": "alice", "password": SECRET_PASSWORD})
        browser.post("/api/v1/auth/login/", {"username": "alice", "password": PASSWORD})
        session_id = browser.cookies["sessionid"].value
        csrf = browser.cookies.get("csrftoken")
        browser.get("/api/v1/tickets/", HTTP_COOKIE=f"sessionid={session_id}")
        browser.post("/api/v1/auth/logout/")
        alice.set_password("a-new-Secret-pass-42")
        alice.save()
    stored = json.dumps(list(SecurityEvent.objects.values()), default=str) + "".join(
        ECSFormatter().format(r) for r in caplog.records
    )
    assert {
        "authn_login_fail",
        "authn_login_successafterfail",
        "authn_token_created",
        "authn_token_revoked",
        "session_expired",
        "authn_password_change",
    } <= set(actions())
    for secret in (SECRET_PASSWORD, PASSWORD, raw, raw[4:], session_id, "a-new-Secret-pass-42"):
        assert secret not in stored
    if csrf is not None:
        assert csrf.value not in stored
    # Usernames of failed logins are stored as keyed hashes only.
    failed = SecurityEvent.objects.filter(action="authn_login_fail").first()
    assert failed is not None
    assert failed.username_hash == hash_username("alice")
    assert "alice" not in json.dumps(failed.details)


def test_it_records_role_and_staff_changes(alice: Any, bob: Any) -> None:
    membership = Membership.objects.get(user=bob)
    membership.role = Role.ADMIN
    membership.save()
    bob.is_staff = True
    bob.save()
    membership.delete()
    changes = SecurityEvent.objects.filter(action="authz_change").order_by("id")
    reasons = [e.reason for e in changes]
    assert "role agent -> admin" in reasons
    assert "is_staff=True" in reasons
    assert "role admin -> -" in reasons
    assert {
        e.details["target_user_id"] for e in changes if e.created_at and "-> -" in e.reason
    } == {bob.pk}


def test_it_records_an_admin_login(django_user_model: Any) -> None:
    django_user_model.objects.create_user("root", password=PASSWORD, is_staff=True)
    client = Client()
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert "authz_admin" in actions()


def test_it_records_a_cross_tenant_lookup(make_ticket: Any, charlie: Any) -> None:
    ticket = make_ticket()
    response = client_for(charlie).get(f"/api/v1/tickets/{ticket.pk}/")
    assert response.status_code == 404  # never confirms the ticket exists
    event = SecurityEvent.objects.get(action="malicious_direct_reference")
    assert event.user_id == charlie.pk
    assert event.details["object_id"] == str(ticket.pk)
    # A ticket that does not exist anywhere is an ordinary 404.
    client_for(charlie).get("/api/v1/tickets/999999/")
    client_for(charlie).get("/api/v1/tickets/abc/")
    assert SecurityEvent.objects.filter(action="malicious_direct_reference").count() == 1


def test_it_records_authorization_failures(bob: Any) -> None:
    assert client_for(bob).get("/api/v1/monitoring/security/events/").status_code == 403
    event = SecurityEvent.objects.get(action="authz_fail")
    assert event.user_id == bob.pk
    assert event.path == "/api/v1/monitoring/security/events/"
