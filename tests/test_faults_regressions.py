"""Defects the fault-injection suite (tests/test_faults.py) found, pinned without its stack."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from helpdesk.monitoring.alerting import delivery, services
from helpdesk.monitoring.alerting.collector import AlertingCollector
from helpdesk.monitoring.alerting.models import Channel, oldest_pending_age
from helpdesk.monitoring.alerting.sources import OutboxBacklogSource, SystemSource
from helpdesk.monitoring.logging.handlers import SharedRotatingFileHandler
from helpdesk.monitoring.system.monitor import Sampler
from tests.receivers import HttpReceiver

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    # The receiver listens on loopback; backoffs of at most 60 s, no dead letter.
    settings.OUTBOUND_ALLOW_PRIVATE_IPS = True
    settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS, settings.ALERT_DELIVERY_MAX_ATTEMPTS = 60, 1000


def _fire(at: datetime) -> None:
    services.fire(
        name="DatabaseDown",
        labels={"alertname": "DatabaseDown", "severity": "critical"},
        annotations={"summary": "down"},
        now=at,
        starts_at=at,
    )


def test_it_reports_a_channel_that_keeps_failing_as_a_backlog() -> None:
    # Each failed attempt moves next_attempt_at ahead by the backoff: measured from it, the
    # backlog of a channel answering 500 for ten minutes stayed under a backoff forever.
    start = timezone.now() - timedelta(seconds=600)
    with HttpReceiver(failure_rate=1.0) as slack:
        Channel.objects.create(name="slack", kind="slack", config={"url": slack.url})
        _fire(start)
        now = start
        for _ in range(8):
            now += timedelta(
                seconds=75
            )  # past every backoff (at most 60 s)  # past every backoff (at most 60 s)
            delivery.deliver_due(now=now)
        assert slack.requests >= 8
    assert oldest_pending_age(now) == pytest.approx((now - start).total_seconds())
    [observation] = OutboxBacklogSource(seconds=300).observe(now.timestamp())
    assert observation.bad  # the source reads the clock: about 600 s
    assert observation.value == pytest.approx(600, abs=60)


def test_it_measures_an_untried_notification_from_when_it_became_due() -> None:
    Channel.objects.create(name="slack", kind="slack", config={"url": "http://127.0.0.1:9/x"})
    _fire(T0)
    assert oldest_pending_age(T0 + timedelta(seconds=30)) == pytest.approx(30)
    assert oldest_pending_age(T0 - timedelta(seconds=30)) == 0.0  # not due yet


def test_it_serves_the_same_backlog_to_prometheus() -> None:
    assert {family.name for family in AlertingCollector().collect()} >= {
        "helpdesk_alert_outbox_oldest_pending_age_seconds"
    }


def test_it_watches_a_file_system_once_whatever_the_paths_on_it(tmp_path: Path) -> None:
    # The default paths (data dir, log dir inside it) share a file system: one full disk
    # fired DiskSpaceLow twice, and resolved it twice, on every channel.
    (tmp_path / "log").mkdir()
    snapshot = Sampler([str(tmp_path), str(tmp_path / "log"), str(tmp_path)], warmup=0.01).sample()
    assert [disk.path for disk in snapshot.disks] == [str(tmp_path)]
    [observation] = SystemSource("disk", 0.1, snapshot=lambda now: snapshot).observe(0.0)
    assert observation.labels == {"path": str(tmp_path)}


def test_it_drops_log_records_quietly_when_the_log_disk_is_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /dev/full answers every write with ENOSPC, as a full disk does. Each record used to
    # print logging's "--- Logging error ---" with a traceback: hundreds a second under load.
    (tmp_path / "app.log").symlink_to("/dev/full")
    handler = SharedRotatingFileHandler(tmp_path / "app.log")
    log = logging.getLogger("tests.faults.full-disk")
    log.addHandler(handler)
    log.propagate = False
    try:
        for index in range(200):
            log.warning("request %d", index)
    finally:
        log.removeHandler(handler)
        handler.close()
    err = capsys.readouterr().err
    assert "Logging error" not in err
    assert err.splitlines() == [
        "log file app.log not writable (No space left on device): "
        "1 record(s) dropped, stdout still has them"
    ]


def test_it_measures_the_backlog_on_the_database_clock_not_the_worker_clock() -> None:
    # A worker whose clock ran 2 h ahead saw the notification the web server had just queued
    # as 2 h old and fired NotificationDeliveryFailing; the database's clock stamped the row.
    Channel.objects.create(name="slack", kind="slack", config={"url": "http://127.0.0.1:9/x"})
    _fire(timezone.now())
    ahead = timezone.now() + timedelta(hours=2)
    [observation] = OutboxBacklogSource(seconds=600).observe(ahead.timestamp())
    assert not observation.bad
    assert observation.value < 60
