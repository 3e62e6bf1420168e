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
