"""The Alertmanager webhook contract and the alert center API, with access control."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from helpdesk.monitoring.alerting import services
from helpdesk.monitoring.alerting.models import Alert, Channel, Notification, Silence
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
HOOK = "/api/v1/monitoring/alerts/alertmanager/"
AM_TOKEN = "a" * 40
MON_TOKEN = "m" * 40


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.ALERTMANAGER_WEBHOOK_TOKEN = AM_TOKEN
    settings.MONITORING_API_TOKEN = MON_TOKEN
    settings.ALERTMANAGER_URL = ""


def am_payload(status: str = "firing", **alert: Any) -> dict[str, Any]:
    """A webhook body exactly as Alertmanager 0.25 sends it (version 4)."""
    item = {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "job": "helpdesk", "severity": "critical"},
        "annotations": {"summary": "High error rate detected", "runbook_url": "https://x/r"},
        "startsAt": "2026-01-05T12:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-01-05T12:10:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        "fingerprint": "3b2e4c1d9f8a7b6c",
    }
    item.update(alert)
    return {
        "receiver": "helpdesk",
        "status": status,
        "alerts": [item],
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": item["labels"],
        "commonAnnotations": item["annotations"],
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
    }


def post_hook(body: Any, token: str | None = AM_TOKEN, raw: bytes | None = None) -> Any:
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else json.dumps(body).encode()
    return client.post(HOOK, data=data, content_type="application/json", **headers)


def test_it_opens_an_alert_and_queues_notifications_from_the_webhook() -> None:
    Channel.objects.create(name="ops", kind="slack", config={"url": "http://x/"})
    response = post_hook(am_payload())
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 1, "opened": 1, "resolved": 0, "unchanged": 0}
    alert = Alert.objects.get()
    assert alert.source == "alertmanager"
    assert alert.fingerprint == "3b2e4c1d9f8a7b6c"
    assert alert.severity == "critical"
    assert alert.starts_at.microsecond == 123456
    assert Notification.objects.get().kind == "firing"


def test_it_is_idempotent_on_repeats() -> None:
    Channel.objects.create(name="ops", kind="slack", config={"url": "http://x/"})
    for _ in range(3):
        assert post_hook(am_payload()).status_code == 200
    assert Alert.objects.count() == 1
    assert Notification.objects.count() == 1
    for _ in range(2):
        assert post_hook(am_payload("resolved")).status_code == 200
    alert = Alert.objects.get()
    assert alert.status == "resolved"
    assert alert.ends_at is not None and alert.ends_at.minute == 10
    assert sorted(Notification.objects.values_list("kind", flat=True)) == ["firing", "resolved"]
    # A late duplicate of the firing message does not reopen the episode.
    post_hook(am_payload())
    assert Alert.objects.get().status == "resolved"


def test_it_keeps_a_resolved_alert_it_never_saw_fire_without_notifying() -> None:
    Channel.objects.create(name="ops", kind="slack", config={"url": "http://x/"})
    assert post_hook(am_payload("resolved")).status_code == 200
    assert Alert.objects.get().status == "resolved"
    assert Notification.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "JSON object"),
        ({**am_payload(), "version": "3"}, "version"),
        ({**am_payload(), "alerts": "x"}, "alerts must be a list"),
        (am_payload(status="pending"), "alerts[0].status"),
        (am_payload(labels={"job": "x"}), "alerts[0].labels.alertname"),
        (am_payload(labels={"alertname": 5}), "alerts[0].labels.alertname must be a string"),
        (am_payload(startsAt="yesterday"), "alerts[0].startsAt"),
        (am_payload(startsAt=None), "alerts[0].startsAt is required"),
        (am_payload(annotations=[]), "alerts[0].annotations"),
    ],
)
def test_it_answers_400_naming_the_problem(body: Any, problem: str) -> None:
    response = post_hook(body)
    assert response.status_code == 400
    assert problem in response.json()["detail"]
    assert Alert.objects.count() == 0


def test_it_answers_400_for_invalid_json() -> None:
    response = post_hook(None, raw=b"{not json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_it_answers_413_for_an_oversize_body(settings: Any) -> None:
    settings.ALERTMANAGER_WEBHOOK_MAX_BYTES = 2048
    body = am_payload(annotations={"description": "x" * 5000})
    response = post_hook(body)
    assert response.status_code == 413
    assert Alert.objects.count() == 0


def test_it_refuses_the_webhook_without_the_webhook_token(settings: Any, alice: Any) -> None:
    assert post_hook(am_payload(), token=None).status_code == 401
    assert post_hook(am_payload(), token="wrong").status_code == 401
    # The monitoring token and user tokens are for reading, not for feeding alerts.
    assert post_hook(am_payload(), token=MON_TOKEN).status_code == 401
    alice.is_staff = True
    alice.save()
    staff = client_for(alice)
    assert staff.post(HOOK, am_payload(), format="json").status_code == 401
    settings.ALERTMANAGER_WEBHOOK_TOKEN = ""  # unset: closed, not open
    assert post_hook(am_payload(), token="").status_code == 401
    assert Alert.objects.count() == 0


# --- the staff/token API ---------------------------------------------------------------


@pytest.fixture
def alert(db: None) -> Alert:
    created, _ = services.fire(
        name="DiskFull", labels={"alertname": "DiskFull", "severity": "warning"}
    )
    assert created is not None
    return created


def _clients(alice: Any, bob: Any, charlie: Any, staff_user: Any) -> dict[str, APIClient]:
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {MON_TOKEN}")
    return {
        "anonymous": APIClient(),
        "owner": client_for(alice),
        "member": client_for(bob),
        "outsider": client_for(charlie),
        "staff": client_for(staff_user),
        "token": token,
    }


@pytest.fixture
def staff_user(other_org: Any) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("sam", password="x" * 20, is_staff=True)


EXPECTED = {
    "anonymous": 401,
    "owner": 403,
    "member": 403,
    "outsider": 403,
    "staff": None,
    "token": None,
}


@pytest.mark.parametrize(
    ("method", "path", "body", "ok"),
    [
        ("get", "/api/v1/monitoring/alerts/", None, 200),
        ("get", "/api/v1/monitoring/alerts/{alert}/", None, 200),
        ("post", "/api/v1/monitoring/alerts/{alert}/ack/", {}, 200),
        ("get", "/api/v1/monitoring/silences/", None, 200),
        ("post", "/api/v1/monitoring/silences/", "silence", 201),
        ("post", "/api/v1/monitoring/silences/{silence}/expire/", {}, 200),
        ("get", "/api/v1/monitoring/notifications/", None, 200),
    ],
)
def test_it_lets_only_staff_and_the_monitoring_token_use_the_api(  # noqa: PLR0917
    method: str,
    path: str,
    body: Any,
    ok: int,
    alert: Alert,
    alice: Any,
    bob: Any,
    charlie: Any,
    staff_user: Any,
) -> None:
    silence = services.create_silence(
        matchers=[{"name": "a", "value": "b"}], ends_at=timezone.now() + timedelta(hours=1)
    )
    url = path.format(alert=alert.pk, silence=silence.pk)
    if body == "silence":
        body = {
            "matchers": [{"name": "alertname", "value": "DiskFull"}],
            "ends_at": (timezone.now() + timedelta(hours=1)).isoformat(),
        }
    for who, client in _clients(alice, bob, charlie, staff_user).items():
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == (EXPECTED[who] or ok), (who, response.content)


def test_it_filters_alerts_and_rejects_bad_filters(alert: Alert) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {MON_TOKEN}")
    url = "/api/v1/monitoring/alerts/"
    assert client.get(url, {"status": "firing"}).json()["count"] == 1
    assert client.get(url, {"status": "resolved"}).json()["count"] == 0
    assert client.get(url, {"severity": "warning"}).json()["count"] == 1
    assert client.get(url, {"severity": "critical"}).json()["count"] == 0
    since = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert client.get(url, {"since": since}).json()["count"] == 0
    assert client.get(url, {"status": "nope"}).status_code == 400
    assert client.get(url, {"since": "yesterday"}).status_code == 400


def test_it_acknowledges_with_the_callers_name(alert: Alert, staff_user: Any) -> None:
    response = client_for(staff_user).post(f"/api/v1/monitoring/alerts/{alert.pk}/ack/")
    assert response.json()["alert"]["acknowledged_by"] == "sam"
    again = client_for(staff_user).post(f"/api/v1/monitoring/alerts/{alert.pk}/ack/")
    assert again.json()["changed"] is False


def test_it_validates_silences(staff_user: Any) -> None:
    client = client_for(staff_user)
    url = "/api/v1/monitoring/silences/"
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    bad = [
        {"matchers": [], "ends_at": future},
        {"matchers": [{"name": "x", "value": "(", "isRegex": True}], "ends_at": future},
        {"matchers": [{"name": "bad name", "value": "x"}], "ends_at": future},
        {"matchers": [{"name": "x", "value": "y"}], "ends_at": "2000-01-01T00:00:00Z"},
        {"matchers": [{"name": "x", "value": "y"}], "ends_at": future, "id": 5},
    ]
    for body in bad:
        assert client.post(url, body, format="json").status_code == 400, body
    assert Silence.objects.count() == 0
    good = client.post(url, {"matchers": [{"name": "x", "value": "y"}], "ends_at": future})
    assert good.status_code == 201
    assert good.json()["created_by"] == "sam"


def test_it_shows_dead_letters_without_channel_secrets(alert: Alert) -> None:
    channel = Channel.objects.create(
        name="hook", kind="webhook", config={"url": "http://h/", "secret": "topsecret"}
    )
    Notification.objects.create(
        alert=alert, channel=channel, kind="firing", idempotency_key="k", status="dead"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {MON_TOKEN}")
    response = client.get("/api/v1/monitoring/notifications/", {"status": "dead"})
    assert response.json()["count"] == 1
    assert b"topsecret" not in response.content
    detail = client.get(f"/api/v1/monitoring/alerts/{alert.pk}/")
    assert detail.json()["notifications"][0]["status"] == "dead"
