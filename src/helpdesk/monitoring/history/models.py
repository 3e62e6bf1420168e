"""Tables of the embedded metrics history.

- ``Series``: one per metric name and label set, as Prometheus counts series (a histogram is
  its ``_bucket{le=…}``, ``_count`` and ``_sum`` series, all counters).
- ``Point``: one rollup of a series over ``[start, start + step)`` (epoch seconds): for a
  counter the increase in that interval, for a gauge the last, lowest and highest sampled
  value. Counters without increase have no row (absent means zero).
- ``SamplerState``: one row: which worker samples (a lease, so two workers never both write),
  the cumulative values of the last written minute (so a restarted worker goes on where that
  minute ended, neither losing nor counting twice), what was rolled up to hours, and the
  series the cap refused.
"""

from __future__ import annotations

import logging

from django.db import models

logger = logging.getLogger(__name__)


class Series(models.Model):
    """A metric name with one label set."""

    class Kind(models.TextChoices):
        COUNTER = "counter"
        GAUGE = "gauge"

    key = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    labels = models.JSONField(default=dict)
    first_seen = models.BigIntegerField()
    last_seen = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name_plural = "series"

    def __str__(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{inner}}}"


class Point(models.Model):
    """One series' rollup over ``[start, start + step)``."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="points")
    step = models.PositiveIntegerField()
    start = models.BigIntegerField()
    value = models.FloatField()
    low = models.FloatField(null=True)
    high = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "step", "start"], name="history_point_unique")
        ]
        indexes = [models.Index(fields=["step", "start"], name="history_point_step_start")]

    def __str__(self) -> str:
        return f"series {self.series_id} [{self.start}, +{self.step}s) = {self.value:g}"


class SamplerState(models.Model):
    """The sampler's single row (see the module docstring)."""

    owner = models.CharField(max_length=200, blank=True)
    lease_until = models.FloatField(default=0.0)
    checkpoint = models.JSONField(default=dict)
    checkpoint_at = models.BigIntegerField(default=0)
    rolled_until = models.BigIntegerField(default=0)
    dropped_series = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"sampled by {self.owner or 'nobody'} until {self.checkpoint_at}"
