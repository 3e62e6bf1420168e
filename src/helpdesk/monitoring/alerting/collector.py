"""Scrape-time metrics of the alert center, for Prometheus rules about alerting itself.

- ``helpdesk_alerts_firing{severity,source}``: alerts firing now.
- ``helpdesk_alert_outbox_notifications{status}``: outbox rows by status (``dead`` = letters
  that will not be retried).
- ``helpdesk_alert_outbox_oldest_pending_age_seconds``: how long the oldest undelivered row
  has been waiting, retries included (a stuck worker or a failing channel shows here first).
- ``helpdesk_alert_channels_disabled``: channels disabled by a permanent error or by hand.
- ``helpdesk_worker_heartbeat_age_seconds``: seconds since any worker's last heartbeat.
- ``helpdesk_worker_clock_offset_seconds``: the largest offset (by magnitude) of a worker's
  wall clock from the database's, among the workers that beat in the last 10 minutes.

Each is computed at scrape time with a handful of aggregate queries; when the database is
down the collector yields nothing rather than failing the whole scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from helpdesk.lib import outages
from helpdesk.monitoring.alerting.models import (
    Alert,
    Channel,
    Notification,
    WorkerHeartbeat,
    oldest_pending_age,
)
from helpdesk.monitoring.alerting.worker import heartbeat_age

logger = logging.getLogger(__name__)


class AlertingCollector(Collector):
    """Yield the alert center's gauges (see the module docstring)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            families = list(self._families())
        except DatabaseError as error:
            outages.report("database", error, source="alerting metrics")
            return
        yield from families

    def _families(self) -> Iterator[GaugeMetricFamily]:
        firing = GaugeMetricFamily(
            "helpdesk_alerts_firing", "Alerts firing now.", labels=["severity", "source"]
        )
        rows = Alert.objects.filter(status="firing").values("severity", "source")
        for row in rows.annotate(n=Count("id")).order_by("severity", "source"):
            firing.add_metric([row["severity"], row["source"]], row["n"])
        yield firing
        outbox = GaugeMetricFamily(
            "helpdesk_alert_outbox_notifications",
            "Notification outbox rows by status.",
            labels=["status"],
        )
        counts = dict(Notification.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in Notification.Status.values:
            outbox.add_metric([status], counts.get(status, 0))
        yield outbox
        now = timezone.now()
        yield GaugeMetricFamily(
            "helpdesk_alert_outbox_oldest_pending_age_seconds",
            "Seconds the oldest undelivered notification has been waiting (0 when none).",
            value=oldest_pending_age(),
        )
        yield GaugeMetricFamily(
            "helpdesk_alert_channels_disabled",
            "Notification channels currently disabled.",
            value=Channel.objects.filter(enabled=False).count(),
        )
        age = heartbeat_age(now)
        if age is not None:
            yield GaugeMetricFamily(
                "helpdesk_worker_heartbeat_age_seconds",
                "Seconds since any worker's last heartbeat.",
                value=max(age, 0.0),
            )
        # A beat's time by the database's clock is its own minus its offset: a worker far
        # behind is recent too.
        offsets: list[float] = [
            offset
            for beat_at, offset in WorkerHeartbeat.objects.values_list(
                "beat_at", "clock_offset_seconds"
            )
            if offset is not None
            and beat_at - timedelta(seconds=offset) >= now - timedelta(minutes=10)
        ]
        if offsets:
            yield GaugeMetricFamily(
                "helpdesk_worker_clock_offset_seconds",
                "A worker's wall clock minus the database's (the largest, by magnitude, of "
                "the workers beating in the last 10 minutes).",
                value=max(offsets, key=abs),
            )
