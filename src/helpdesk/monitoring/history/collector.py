"""Scrape-time metrics of the embedded history, so its cap is never silent.

- ``helpdesk_history_series``: series stored; ``helpdesk_history_series_limit``: the cap.
- ``helpdesk_history_dropped_series_total``: series-minutes not stored because of the cap.
- ``helpdesk_history_written_until_timestamp_seconds``: the end of the last written minute
  (a sampler that stopped shows here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from helpdesk.lib import outages
from helpdesk.monitoring.history.models import SamplerState, Series

logger = logging.getLogger(__name__)


class HistoryCollector(Collector):
    """Yield the history's gauges (see the module docstring)."""

    def collect(self) -> Iterator[Metric]:
        try:
            stored = Series.objects.count()
            state = SamplerState.objects.filter(pk=1).first()
        except DatabaseError as error:
            outages.report("database", error, source="history metrics")
            return
        yield GaugeMetricFamily("helpdesk_history_series", "Series in the history.", stored)
        yield GaugeMetricFamily(
            "helpdesk_history_series_limit",
            "Most series the history stores (HISTORY_MAX_SERIES).",
            settings.HISTORY_MAX_SERIES,
        )
        yield CounterMetricFamily(
            "helpdesk_history_dropped_series",
            "Series-minutes the history did not store because it was full.",
            state.dropped_series if state else 0,
        )
        if state and state.checkpoint_at:
            yield GaugeMetricFamily(
                "helpdesk_history_written_until_timestamp_seconds",
                "End of the last minute the history wrote (Unix time).",
                state.checkpoint_at,
            )
