"""The outbox: written with the state change, claimed once, retried with backoff, dead-lettered,
delivered through real local receivers (a Slack-compatible HTTP server, aiosmtpd SMTP)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from helpdesk.monitoring.alerting import delivery, services
from helpdesk.monitoring.alerting.integrations.slack.transport import COLORS
from helpdesk.monitoring.alerting.integrations.webhook.transport import SIGNATURE_HEADER, verify
from helpdesk.monitoring.alerting.models import Alert, Channel, Notification
from tests.receivers import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_IPS = True  # the receivers listen on loopback
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 10.0
    settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS = 600.0
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    settings.ALERT_DELIVERY_LEASE_SECONDS = 60.0


def slack(url: str, name: str = "slack", **fields: Any) -> Channel:
    return Channel.objects.create(name=name, kind="slack", config={"url": url}, **fields)


def fire(name: str = "DatabaseDown", severity: str = "critical", **labels: str) -> Alert:
    alert, _ = services.fire(
        name=name,
        labels={"alertname": name, "severity": severity, **labels},
        annotations={"summary": "The database is down"},
        now=T0,
        starts_at=T0,
    )
    assert alert is not None
    return alert


def test_it_writes_the_outbox_in_the_same_transaction_as_the_alert() -> None:
    slack("http://127.0.0.1:1/x")
    with pytest.raises(RuntimeError), transaction.atomic():
        fire()
        assert Notification.objects.count() == 1
        raise RuntimeError("crash before commit")
    assert Alert.objects.count() == 0
    assert Notification.objects.count() == 0


def test_it_queues_one_notification_per_state_change_per_channel() -> None:
    slack("http://127.0.0.1:1/a", "a")
    slack("http://127.0.0.1:1/b", "b", severities=["warning"])
    alert = fire()
    fire()  # the same fingerprint again: an update, not a new episode
    assert Alert.objects.count() == 1
    assert list(Notification.objects.values_list("channel__name", "kind")) == [("a", "firing")]
    services.resolve(alert.fingerprint, now=T0 + timedelta(minutes=5))
    services.resolve(alert.fingerprint, now=T0 + timedelta(minutes=6))
    kinds = sorted(Notification.objects.values_list("kind", flat=True))
    assert kinds == ["firing", "resolved"]
    keys = set(Notification.objects.values_list("idempotency_key", flat=True))
    assert keys == {
        f"{alert.fingerprint}-{int(T0.timestamp())}:firing:a",
        f"{alert.fingerprint}-{int(T0.timestamp())}:resolved:a",
    }


def test_it_lets_only_one_worker_claim_a_row() -> None:
    slack("http://127.0.0.1:1/x")
    fire()
    row = Notification.objects.get()
    assert delivery.claim(row.pk, T0) is not None
    assert delivery.claim(row.pk, T0) is None  # the second worker sees a count of 0


def test_it_reclaims_a_stale_sending_row_after_the_lease() -> None:
    slack("http://127.0.0.1:1/x")
    fire()
    row = Notification.objects.get()
    first = delivery.claim(row.pk, T0)
    assert delivery.claim(row.pk, T0 + timedelta(seconds=30)) is None
    second = delivery.claim(row.pk, T0 + timedelta(seconds=61))
    assert second is not None and second != first
    # The worker that lost its lease cannot settle the row any more.
    assert not delivery._settle(row.pk, first or "", status="sent")


def test_it_delivers_to_slack_with_the_severity_colour() -> None:
    with HttpReceiver() as receiver:
        slack(receiver.url)
        alert = fire()
        assert delivery.deliver_due(now=T0) == {"sent": 1}
        services.resolve(alert.fingerprint, now=T0 + timedelta(minutes=1))
        assert delivery.deliver_due(now=T0 + timedelta(minutes=1)) == {"sent": 1}
    firing, resolved = (item["json"] for item in receiver.accepted)
    assert firing["attachments"][0]["color"] == COLORS["critical"] == "#8b0000"
    assert firing["attachments"][0]["title"].startswith("[FIRING:critical] DatabaseDown")
    assert resolved["attachments"][0]["title"].startswith("[RESOLVED:critical]")
    assert receiver.accepted[0]["headers"]["Idempotency-Key"].endswith(":firing:slack")


def test_it_retries_with_exponential_backoff_and_jitter_then_dead_letters() -> None:
    with HttpReceiver(failure_rate=1.0) as receiver:
        slack(receiver.url)
        fire()
        row = Notification.objects.get()
        now = T0
        waits = []
        for _ in range(3):
            assert delivery.deliver_one(row.pk, now) in {"retry", "dead"}
            row.refresh_from_db()
            waits.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
    assert row.status == "dead"
    assert row.attempts == 3
    assert row.last_error == "Slack answered 500"
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20
    assert receiver.requests == 3 * 2  # each attempt tries twice quickly
    assert Channel.objects.get().enabled  # a retryable error never disables


def test_it_bounds_the_backoff() -> None:
    rng = random.Random(1)
    assert all(300 <= delivery.backoff(30, rng) <= 600 for _ in range(20))


def test_it_disables_a_channel_on_a_permanent_error_and_raises_an_alert() -> None:
    with HttpReceiver(status=404, body=b"no_service") as gone, HttpReceiver() as other:
        slack(gone.url, "gone")
        slack(other.url, "other")
        fire()
        delivery.deliver_due(now=T0)
        delivery.deliver_due(now=T0)
    channel = Channel.objects.get(name="gone")
    assert not channel.enabled
    assert "404" in channel.disabled_reason
    assert gone.url not in channel.disabled_reason
    assert Notification.objects.get(channel=channel).status == "dead"
    raised = Alert.objects.get(name="NotificationChannelDisabled")
    assert raised.labels["channel"] == "gone"
    titles = [item["json"]["attachments"][0]["title"] for item in other.accepted]
    assert any("NotificationChannelDisabled" in title for title in titles)


def test_it_never_sends_resolved_before_firing() -> None:
    with HttpReceiver(failure_rate=1.0) as receiver:
        slack(receiver.url)
        alert = fire()
        delivery.deliver_due(now=T0)  # firing fails, waits for its backoff
        services.resolve(alert.fingerprint, now=T0)
        assert delivery.deliver_due(now=T0) == {"waiting": 1}
    resolved = Notification.objects.get(kind="resolved")
    assert resolved.status == "pending" and resolved.attempts == 0


def test_it_refuses_loopback_receivers_unless_allowed(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_IPS = False
    with HttpReceiver() as receiver:
        slack(receiver.url)
        fire()
        assert delivery.deliver_due(now=T0) == {"dead": 1}
    assert receiver.requests == 0
    assert "private or loopback" in Notification.objects.get(kind="firing").last_error


def test_it_signs_webhooks_with_hmac_and_sends_the_idempotency_key() -> None:
    with HttpReceiver() as receiver:
        Channel.objects.create(
            name="hook", kind="webhook", config={"url": receiver.url, "secret": "s3cret"}
        )
        fire()
        delivery.deliver_due(now=T0)
    item = receiver.accepted[0]
    header = item["headers"][SIGNATURE_HEADER]
    timestamp = int(header.split(",")[0][2:])
    assert verify("s3cret", item["raw"], header, now=timestamp)
    assert not verify("wrong", item["raw"], header, now=timestamp)
    assert not verify("s3cret", item["raw"] + b" ", header, now=timestamp)
    assert not verify("s3cret", item["raw"], header, now=timestamp + 3600)
    assert item["json"]["idempotency_key"] == item["headers"]["Idempotency-Key"]
    assert item["json"]["name"] == "DatabaseDown"


def test_it_emails_through_a_real_smtp_server(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with SmtpReceiver() as smtp:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        Channel.objects.create(name="mail", kind="email", config={"to": ["ops@example.org"]})
        alert = fire()
        delivery.deliver_due(now=T0)
        services.resolve(alert.fingerprint, now=T0)
        delivery.deliver_due(now=T0)
        messages = smtp.messages
    assert [m["To"] for m in messages] == ["ops@example.org", "ops@example.org"]
    assert messages[0]["Subject"].startswith("[ALERT] [FIRING:critical] DatabaseDown")
    assert messages[1]["Subject"].startswith("[ALERT] [RESOLVED:critical]")
    assert messages[0]["X-Helpdesk-Idempotency-Key"].endswith(":firing:mail")
    assert messages[0]["Message-ID"] != messages[1]["Message-ID"]


def test_it_retries_email_when_the_smtp_server_is_down(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with SmtpReceiver() as smtp:
        port = smtp.port
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    Channel.objects.create(name="mail", kind="email", config={"to": ["ops@example.org"]})
    fire()
    assert delivery.deliver_due(now=T0) == {"retry": 1}
    assert Notification.objects.get().last_error.startswith("SMTP failed")


def test_its_collector_reports_firing_alerts_and_the_outbox() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from helpdesk.monitoring.alerting.collector import AlertingCollector

    slack("http://127.0.0.1:1/x")
    fire()
    Channel.objects.create(name="off", kind="slack", enabled=False)
    registry = CollectorRegistry()
    registry.register(AlertingCollector())
    text = generate_latest(registry).decode()
    assert 'helpdesk_alerts_firing{severity="critical",source="builtin"} 1.0' in text
    assert 'helpdesk_alert_outbox_notifications{status="pending"} 1.0' in text
    assert 'helpdesk_alert_outbox_notifications{status="dead"} 0.0' in text
    assert "helpdesk_alert_channels_disabled 1.0" in text
    assert "helpdesk_alert_outbox_oldest_pending_age_seconds" in text


def test_its_collector_reports_the_largest_worker_clock_offset() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from helpdesk.monitoring.alerting.collector import AlertingCollector
    from helpdesk.monitoring.alerting.models import WorkerHeartbeat

    now = timezone.now()
    beats = {"ahead": (now, 3.0), "behind": (now - timedelta(hours=2), -7200.0)}
    # A worker gone for an hour (by the database's clock) is not reported any more.
    beats["gone"] = (now + timedelta(hours=1), 3 * 3600.0 + 9.0)
    for worker_id, (beat_at, offset) in beats.items():
        WorkerHeartbeat.objects.create(
            worker_id=worker_id,
            hostname="h",
            pid=1,
            started_at=beat_at,
            beat_at=beat_at,
            clock_offset_seconds=offset,
        )
    registry = CollectorRegistry()
    registry.register(AlertingCollector())
    text = generate_latest(registry).decode()
    assert "helpdesk_worker_clock_offset_seconds -7200.0" in text
