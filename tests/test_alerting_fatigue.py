"""Alert fatigue with an injected clock: silences, acknowledgement, repeats, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings

from helpdesk.monitoring.alerting import services
from helpdesk.monitoring.alerting.models import Alert, Channel, Notification

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.ALERT_REPEAT_INTERVAL_SECONDS = 3600.0
    settings.ALERT_REPEAT_MAX = 2
    settings.ALERT_ESCALATE_AFTER_SECONDS = 900.0


@pytest.fixture
def channels(db: None) -> tuple[Channel, Channel]:
    routed = Channel.objects.create(name="ops", kind="slack", config={"url": "http://x/"})
    escalation = Channel.objects.create(
        name="oncall", kind="email", config={"to": ["boss@example.org"]}, escalation=True
    )
    return routed, escalation


def fire(severity: str = "critical", at: datetime = T0, **labels: str) -> Alert:
    alert, _ = services.fire(
        name="HighErrorRatio",
        labels={"alertname": "HighErrorRatio", "severity": severity, **labels},
        now=at,
        starts_at=at,
    )
    assert alert is not None
    return alert


def kinds(channel: Channel | None = None) -> list[str]:
    rows = Notification.objects.order_by("id")
    if channel is not None:
        rows = rows.filter(channel=channel)
    return list(rows.values_list("idempotency_key", flat=True))


def suffixes(channel: Channel | None = None) -> list[str]:
    return [key.split(":", 1)[1] for key in kinds(channel)]


def test_it_repeats_at_most_every_interval_and_caps_the_count(channels: Any) -> None:
    ops, _ = channels
    alert = fire(severity="warning")
    for minutes in (10, 59):
        services.schedule(T0 + timedelta(minutes=minutes))
    assert suffixes(ops) == ["firing:ops"]
    services.schedule(T0 + timedelta(minutes=60))
    services.schedule(T0 + timedelta(minutes=61))
    assert suffixes(ops) == ["firing:ops", "repeat-1:ops"]
    services.schedule(T0 + timedelta(minutes=120))
    services.schedule(T0 + timedelta(minutes=300))  # capped at ALERT_REPEAT_MAX = 2
    assert suffixes(ops) == ["firing:ops", "repeat-1:ops", "repeat-2:ops"]
    services.resolve(alert.fingerprint, now=T0 + timedelta(minutes=301))
    services.schedule(T0 + timedelta(minutes=400))
    assert suffixes(ops)[-1] == "resolved:ops"
    assert suffixes(ops).count("resolved:ops") == 1


def test_it_escalates_an_unacknowledged_critical_alert_after_n_minutes(channels: Any) -> None:
    _, oncall = channels
    alert = fire()
    services.schedule(T0 + timedelta(minutes=14, seconds=59))
    assert suffixes(oncall) == []
    services.schedule(T0 + timedelta(minutes=15))
    services.schedule(T0 + timedelta(minutes=16))
    assert suffixes(oncall) == ["escalation:oncall"]
    services.resolve(alert.fingerprint, now=T0 + timedelta(minutes=20))
    # The escalation channel was told it fired, so it is told it resolved.
    assert suffixes(oncall) == ["escalation:oncall", "resolved:oncall"]


def test_it_stops_repeats_and_escalation_once_acknowledged(channels: Any, alice: Any) -> None:
    ops, oncall = channels
    alert = fire()
    assert services.acknowledge(alert, by=alice, now=T0 + timedelta(minutes=5))
    assert not services.acknowledge(alert, by=alice, now=T0 + timedelta(minutes=6))
    services.schedule(T0 + timedelta(hours=5))
    assert suffixes(ops) == ["firing:ops"]
    assert suffixes(oncall) == []
    alert.refresh_from_db()
    assert alert.acknowledged_by == alice and alert.acknowledged_by_name == "alice"


def test_it_does_not_escalate_warnings(channels: Any) -> None:
    _, oncall = channels
    fire(severity="warning")
    services.schedule(T0 + timedelta(hours=1))
    assert suffixes(oncall) == []


def test_it_holds_notifications_back_while_silenced_and_sends_them_after(channels: Any) -> None:
    ops, _ = channels
    silence = services.create_silence(
        matchers=[{"name": "alertname", "value": "High.*", "isRegex": True, "isEqual": True}],
        starts_at=T0 - timedelta(minutes=1),
        ends_at=T0 + timedelta(minutes=30),
    )
    fire()
    services.schedule(T0 + timedelta(minutes=20))  # silenced: nothing, not even escalation
    assert kinds() == []
    services.expire_silence(silence, now=T0 + timedelta(minutes=25))
    services.schedule(T0 + timedelta(minutes=25))
    assert "firing:ops" in suffixes(ops)


def test_it_matches_silences_like_alertmanager(channels: Any) -> None:
    services.create_silence(
        matchers=[
            {"name": "service", "value": "web", "isRegex": False, "isEqual": True},
            {"name": "env", "value": "staging", "isRegex": False, "isEqual": False},
        ],
        starts_at=T0 - timedelta(minutes=1),
        ends_at=T0 + timedelta(hours=1),
    )
    fire(service="web", env="prod")  # env != staging: matches, silenced
    fire(service="web", env="staging")  # excluded by the negative matcher
    fire(service="api", env="prod")
    assert len(kinds()) == 2


def test_it_resolves_silently_when_no_channel_was_ever_told(channels: Any) -> None:
    services.create_silence(
        matchers=[{"name": "alertname", "value": "HighErrorRatio"}],
        starts_at=T0 - timedelta(minutes=1),
        ends_at=T0 + timedelta(hours=1),
    )
    alert = fire()
    services.resolve(alert.fingerprint, now=T0 + timedelta(minutes=5))
    assert kinds() == []


def test_it_routes_by_severity(channels: Any) -> None:
    Channel.objects.create(
        name="pager", kind="webhook", config={"url": "http://x/"}, severities=["critical"]
    )
    fire(severity="warning", instance="a")
    fire(severity="critical", instance="b")
    pager = Channel.objects.get(name="pager")
    assert len(kinds(pager)) == 1


def test_it_skips_disabled_channels(channels: Any) -> None:
    ops, _ = channels
    Channel.objects.filter(pk=ops.pk).update(enabled=False, disabled_reason="manual")
    fire()
    assert kinds() == []


def test_it_sends_warnings_to_a_digest_channel_once_a_day(channels: Any) -> None:
    from helpdesk.monitoring.alerting import delivery
    from tests.receivers import HttpReceiver

    ops, _ = channels
    with HttpReceiver() as receiver:
        Channel.objects.filter(pk=ops.pk).update(digest=True, config={"url": receiver.url})
        services.schedule(T0 - timedelta(hours=1))  # the first day starts here
        fire(severity="warning", instance="a")
        fire(severity="warning", instance="b")
        fire(severity="critical", instance="c")  # critical alerts still go one by one
        assert suffixes(ops) == ["firing:ops"]
        services.schedule(T0 + timedelta(hours=12))
        assert Notification.objects.filter(kind="digest").count() == 0
        services.schedule(T0 + timedelta(hours=23))
        services.schedule(T0 + timedelta(hours=23, minutes=1))
        [row] = Notification.objects.filter(kind="digest")
        assert [a["status"] for a in row.payload["alerts"]] == ["firing", "firing"]
        with override_settings(OUTBOUND_ALLOW_PRIVATE_IPS=True):
            delivery.deliver_due(now=T0 + timedelta(hours=23, minutes=2))
    titles = [item["json"]["attachments"][0]["title"] for item in receiver.accepted]
    assert any("WarningDigest: 2 warnings since" in title for title in titles)
    services.schedule(T0 + timedelta(hours=30))
    assert Notification.objects.filter(kind="digest").count() == 1
