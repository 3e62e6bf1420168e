"""Build the /metrics body: the instruments plus the scrape-time collectors.

The collectors listed in settings.HELPDESK_METRICS_COLLECTORS (dotted paths) are imported
lazily, once per process. A collector that fails to import or raises while collecting is left
out of that scrape, reported as ``helpdesk_metrics_collector_up{collector="…"} 0`` and logged,
so one broken package never takes the whole scrape down. Under a multi-worker server
(PROMETHEUS_MULTIPROC_DIR set) the instruments come from every worker's files and the dead
workers' archive (``multiprocess.MultiProcessReader``); otherwise from this process's default
registry.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any

import prometheus_client
from django.conf import settings
from django.db import DatabaseError
from django.utils.module_loading import import_string
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as openmetrics

from helpdesk.lib import outages
from helpdesk.monitoring.metrics import exemplars
from helpdesk.monitoring.metrics.multiprocess import ENV, MultiProcessReader

logger = logging.getLogger(__name__)

TEXT_CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
OPENMETRICS_CONTENT_TYPE = openmetrics.CONTENT_TYPE_LATEST

_collectors: dict[str, Any] = {}
_lock = threading.Lock()


class _Families:
    """A registry-like holder of already collected families (for the generate functions)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _instance(path: str) -> Any:
    with _lock:
        if path not in _collectors:
            _collectors[path] = import_string(path)()
        return _collectors[path]


def collect_custom(paths: Iterable[str]) -> list[Metric]:
    """Run the scrape-time collectors; return their families and the exposition's own."""
    start = perf_counter()
    up = GaugeMetricFamily(
        "helpdesk_metrics_collector_up",
        "1 when the collector ran in this scrape, 0 when it failed (see the log).",
        labels=["collector"],
    )
    families: list[Metric] = []
    for path in paths:
        name = path.rsplit(".", 1)[-1]
        try:
            families.extend(_instance(path).collect())
        except DatabaseError as error:
            # An outage, logged once per interval; the traceback is for bugs only.
            outages.report("database", error, source=f"metrics collector {name}")
            up.add_metric([name], 0)
        except Exception:
            logger.warning("metrics collector %s failed", path, exc_info=True)
            up.add_metric([name], 0)
        else:
            up.add_metric([name], 1)
    families.append(up)
    families.append(
        GaugeMetricFamily(
            "helpdesk_metrics_scrape_duration_seconds",
            "Time this scrape spent in the instruments' files and the collectors.",
            value=perf_counter() - start,
        )
    )
    return families


def instruments() -> CollectorRegistry:
    """Return the registry of the instruments: every worker's files when this process writes
    to a multiprocess folder, else this process's default registry."""
    path = os.environ.get(ENV)
    if not path or not os.path.isdir(path):
        return prometheus_client.REGISTRY
    registry = CollectorRegistry()
    registry.register(MultiProcessReader(path))
    return registry


def render(openmetrics_format: bool = False) -> tuple[bytes, str]:
    """Return the /metrics body and its content type."""
    start = perf_counter()
    base = list(instruments().collect())
    custom = collect_custom(settings.HELPDESK_METRICS_COLLECTORS)
    # The scrape duration covers the instruments too.
    custom[-1].samples[0] = custom[-1].samples[0]._replace(value=perf_counter() - start)
    if openmetrics_format:
        path = os.environ.get(ENV)
        if path and os.path.isdir(path):
            exemplars.attach(base, path)
        return openmetrics.generate_latest(_Families(base + custom)), OPENMETRICS_CONTENT_TYPE
    return prometheus_client.generate_latest(_Families(base + custom)), TEXT_CONTENT_TYPE
