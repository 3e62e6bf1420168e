"""Scrape-time health metrics, read from the health runner's cached report.

- ``helpdesk_health_check_up{check}``: 1 when the check passes or warns, 0 when it fails.
- ``helpdesk_health_check_status{check,status}``: 1 on the check's current status.
- ``helpdesk_health_check_duration_seconds{check}``: how long the check took.

The report is the one the endpoints use (cached for HEALTH_CACHE_SECONDS), so a scrape does
not probe the dependencies a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from helpdesk.monitoring.health.runner import FAIL, STATUSES, default_runner

logger = logging.getLogger(__name__)


class HealthCollector(Collector):
    """Yield the health gauges (see the module docstring)."""

    def describe(self) -> list[GaugeMetricFamily]:
        # Registering must not run the checks.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        report = default_runner().report()
        up = GaugeMetricFamily(
            "helpdesk_health_check_up", "1 when the health check passes or warns.", labels=["check"]
        )
        status = GaugeMetricFamily(
            "helpdesk_health_check_status",
            "1 on the health check's current status (pass, warn, fail).",
            labels=["check", "status"],
        )
        duration = GaugeMetricFamily(
            "helpdesk_health_check_duration_seconds",
            "Duration of the last run of the health check.",
            labels=["check"],
            unit="",
        )
        for result in report.results:
            up.add_metric([result.name], 0.0 if result.status == FAIL else 1.0)
            for name in STATUSES:
                status.add_metric([result.name, name], 1.0 if result.status == name else 0.0)
            duration.add_metric([result.name], result.duration)
        yield up
        yield status
        yield duration
