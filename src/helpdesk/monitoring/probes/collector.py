"""Serve the probes' latest results on /metrics (read from the database at scrape time).

``probe_success{probe}`` (1/0) and ``probe_duration_seconds{probe,phase}`` use
blackbox_exporter's names, so dashboards and the probe_availability SLO read both alike;
``helpdesk_probe_consecutive_failures{probe}`` is what ProbeFailing compares with its
threshold. Read from the rows, they are the same in every web process and in any setup.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from helpdesk.monitoring.probes import runner
from helpdesk.monitoring.probes.models import ProbeRun

logger = logging.getLogger(__name__)


class ProbeCollector(Collector):
    """The latest run of each probe."""

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "probe_success", "Whether the probe's last run succeeded.", labels=["probe"]
        )
        duration = GaugeMetricFamily(
            "probe_duration_seconds",
            "Duration of the probe's last run by phase (phase=total: all of it).",
            labels=["probe", "phase"],
        )
        failures = GaugeMetricFamily(
            "helpdesk_probe_consecutive_failures",
            "How many of the probe's latest runs failed in a row.",
            labels=["probe"],
        )
        for probe in runner.PROBES:
            last = ProbeRun.objects.filter(probe=probe).first()
            if last is None:
                continue
            success.add_metric([probe], 1.0 if last.success else 0.0)
            for phase, seconds in last.phases.items():
                duration.add_metric([probe, phase], float(seconds))
            duration.add_metric([probe, "total"], last.duration_seconds)
            failures.add_metric([probe], runner.consecutive_failures(probe))
        yield from (success, duration, failures)
