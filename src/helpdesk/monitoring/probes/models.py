"""One row per probe run: when, which probe, the outcome and each phase's duration."""

from __future__ import annotations

import logging

from django.db import models

logger = logging.getLogger(__name__)


class ProbeRun(models.Model):
    """The result of one run of one probe."""

    probe = models.CharField(max_length=50)
    started_at = models.DateTimeField()
    success = models.BooleanField()
    duration_seconds = models.FloatField()
    # Phase name -> seconds, in the order they ran; the failing phase is the last one.
    phases = models.JSONField(default=dict)
    failed_phase = models.CharField(max_length=50, blank=True)
    # A short, generic reason ("status 500", "timed out"): never a response body or a secret.
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["probe", "-started_at"]),
            models.Index(fields=["started_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.probe} {'ok' if self.success else 'failed'} at {self.started_at:%H:%M:%S}"


class UptimeDay(models.Model):
    """One public component's samples on one UTC day: how many, how many down or degraded.

    Written by ``uptime.record()`` (a worker job), kept ``uptime.RETENTION_DAYS`` days: the
    status page's uptime bars, longer than the probe runs themselves are kept.
    """

    component = models.CharField(max_length=20)
    day = models.DateField()
    samples = models.PositiveIntegerField(default=0)
    outages = models.PositiveIntegerField(default=0)
    degraded = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["component", "day"]
        constraints = [
            models.UniqueConstraint(fields=["component", "day"], name="uptime_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.component} {self.day}: {self.outages}/{self.samples} down"
