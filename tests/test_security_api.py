"""The security events API: access control, filters, pagination."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.models import SecurityEvent
from tests.conftest import client_for

URL = "/api/v1/monitoring/security/events/"
MONITORING_TOKEN = "m" * 40

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("sam", password="x-Secret-99", is_staff=True)


@pytest.fixture
def some_events() -> None:
    events.publish("authn_login_fail", ip="192.0.2.1", username="alice", reason="bad")
    events.publish("authn_login_fail", ip="192.0.2.2", username="bob", reason="bad")
    events.publish("malicious_probe_path", ip="192.0.2.1", reason="/.env")
    events.publish("authn_login_success", ip="192.0.2.3", user_id=42)


def test_it_refuses_anonymous_callers() -> None:
    response = APIClient().get(URL)
    assert response.status_code == 401


@pytest.mark.parametrize("who", ["alice", "bob", "charlie"])
def test_it_refuses_owner_member_and_outsider(who: str, request: pytest.FixtureRequest) -> None:
    user = request.getfixturevalue(who)
    assert client_for(user).get(URL).status_code == 403
    assert client_for(user).get("/api/v1/monitoring/security/lockouts/").status_code == 403


def test_it_lists_events_for_staff(staff: Any, some_events: None) -> None:
    response = client_for(staff).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert body["results"][0]["type"] == "authn_login_success"  # newest first


@override_settings(MONITORING_API_TOKEN=MONITORING_TOKEN)
def test_it_lists_events_for_the_monitoring_token(some_events: None) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {MONITORING_TOKEN}")
    assert client.get(URL).json()["count"] == 4
    # The token reads; it does not unlock.
    unlock = client.post(
        "/api/v1/monitoring/security/lockouts/unlock/", {"ip": "192.0.2.1"}, format="json"
    )
    assert unlock.status_code == 403


def test_it_filters_events(staff: Any, some_events: None) -> None:
    client = client_for(staff)

    def ids(query: str) -> list[str]:
        return [e["type"] for e in client.get(URL + query).json()["results"]]

    assert ids("?type=authn_login_fail") == ["authn_login_fail"] * 2
    assert ids("?ip=192.0.2.1") == ["malicious_probe_path", "authn_login_fail"]
    assert ids("?user=alice") == ["authn_login_fail"]
    assert ids("?user=42") == ["authn_login_success"]
    future = (timezone.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"?since={future}") == []
    assert len(ids(f"?until={future}")) == 4
    assert len(client.get(URL + "?page_size=1").json()["results"]) == 1


@pytest.mark.parametrize("query", ["?type=nope", "?ip=not-an-ip", "?since=yesterday"])
def test_it_answers_400_for_bad_filters(staff: Any, query: str) -> None:
    response = client_for(staff).get(URL + query)
    assert response.status_code == 400


def test_it_purges_events_past_retention(some_events: None) -> None:
    old = SecurityEvent(action="authz_fail", created_at=timezone.now() - timedelta(days=200))
    old.save()
    call_command("purge_security_events")
    assert SecurityEvent.objects.count() == 4
    call_command("purge_security_events", days=1)
    assert SecurityEvent.objects.count() == 4


def test_it_purges_from_the_worker_job(some_events: None) -> None:
    from helpdesk.monitoring.alerting.management.commands.worker import build_worker

    SecurityEvent(action="authz_fail", created_at=timezone.now() - timedelta(days=181)).save()
    job = next(
        j for j in build_worker(evaluate=False, deliver=False).jobs if j.name == "security-purge"
    )
    assert job.func() == {"deleted": 1}
    assert SecurityEvent.objects.count() == 4
