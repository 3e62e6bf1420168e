"""Increments of the app's request counters, sampled by the worker for the embedded SLIs.

One row per counter kind (``http_not_5xx``...) and sample: how many good and total events the
app's HTTP histogram gained since the previous sample. Sums over rows answer "good and total
events in the last hour" without Prometheus. This is the app's own short history until the
embedded metrics history replaces it (``embedded.SampledCounts`` is the only reader).
"""

from __future__ import annotations

import logging

from django.db import models

logger = logging.getLogger(__name__)


class SliSample(models.Model):
    """Good and total events of one kind between the previous sample and ``at``."""

    kind = models.CharField(max_length=40)
    at = models.DateTimeField()
    good = models.FloatField()
    total = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["kind", "at"])]
        constraints = [
            # Two workers sampling the same second store one row.
            models.UniqueConstraint(fields=["kind", "at"], name="one_sli_sample_per_kind_and_time")
        ]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%H:%M:%S}: {self.good:g}/{self.total:g}"
