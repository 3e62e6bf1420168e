"""Prometheus collector ``helpdesk_system_*``: a fresh snapshot at every scrape.

Percentages are exported as ratios (0-1, Prometheus base units). Each scrape also feeds the
threshold monitor, and ``helpdesk_system_threshold_crossed{resource}`` shows its verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from helpdesk.monitoring import system

logger = logging.getLogger(__name__)


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


class SystemCollector(Collector):
    """Yield the ``helpdesk_system_*`` families."""

    def collect(self) -> Iterator[Metric]:
        """Sample now, feed the threshold monitor and yield the figures."""
        try:
            snap = system.observe()
        except Exception:
            logger.warning("system sample failed", exc_info=True)
            return
        source = {"source": snap.cpu_source}
        yield _gauge(
            "helpdesk_system_cpu_utilisation_ratio",
            "CPU use against the container's CPU limit (cgroup) or all host cores.",
            snap.cpu_percent / 100,
            source,
        )
        yield _gauge("helpdesk_system_cpu_cores", "CPU cores available.", snap.cpu_cores, source)
        load = GaugeMetricFamily(
            "helpdesk_system_load_average", "Host load average.", labels=["period"]
        )
        for period, value in zip(("1m", "5m", "15m"), snap.load_average, strict=True):
            load.add_metric([period], value)
        yield load
        memory = {"source": snap.memory_source}
        yield _gauge(
            "helpdesk_system_memory_utilisation_ratio",
            "Memory in use against the container's memory.max (cgroup) or host memory.",
            snap.memory_percent / 100,
            memory,
        )
        yield _gauge(
            "helpdesk_system_memory_used_bytes", "Memory in use.", snap.memory_used_bytes, memory
        )
        yield _gauge(
            "helpdesk_system_memory_limit_bytes", "Memory limit.", snap.memory_limit_bytes, memory
        )
        yield _gauge(
            "helpdesk_system_swap_utilisation_ratio", "Swap in use.", snap.swap_percent / 100
        )
        disk_ratio = GaugeMetricFamily(
            "helpdesk_system_disk_utilisation_ratio", "File system use.", labels=["path"]
        )
        disk_free = GaugeMetricFamily(
            "helpdesk_system_disk_free_bytes", "File system free space.", labels=["path"]
        )
        disk_size = GaugeMetricFamily(
            "helpdesk_system_disk_size_bytes", "File system size.", labels=["path"]
        )
        for disk in snap.disks:
            disk_ratio.add_metric([disk.path], disk.percent / 100)
            disk_free.add_metric([disk.path], disk.free_bytes)
            disk_size.add_metric([disk.path], disk.total_bytes)
        yield from (disk_ratio, disk_free, disk_size)
        for key, name in (
            ("bytes_sent", "helpdesk_system_network_transmitted_bytes"),
            ("bytes_received", "helpdesk_system_network_received_bytes"),
        ):
            if key in snap.network:
                yield CounterMetricFamily(name, "Host network traffic.", value=snap.network[key])
        for key, name in (
            ("read_bytes", "helpdesk_system_disk_read_bytes"),
            ("written_bytes", "helpdesk_system_disk_written_bytes"),
        ):
            if key in snap.disk_io:
                yield CounterMetricFamily(name, "Host block device I/O.", value=snap.disk_io[key])
        process = snap.process
        yield _gauge(
            "helpdesk_system_process_resident_memory_bytes",
            "Resident memory of this app process.",
            process["rss_bytes"],
        )
        yield CounterMetricFamily(
            "helpdesk_system_process_cpu_seconds",
            "CPU time of this app process.",
            value=process["cpu_seconds"],
        )
        yield _gauge(
            "helpdesk_system_process_threads", "Threads of this app process.", process["threads"]
        )
        yield _gauge(
            "helpdesk_system_process_open_fds",
            "Open file descriptors of this app process.",
            process["open_fds"],
        )
        crossed = GaugeMetricFamily(
            "helpdesk_system_threshold_crossed",
            "1 while a resource has stayed over its threshold for SYSTEM_SUSTAINED_SECONDS.",
            labels=["resource"],
        )
        for resource, state in sorted(system.monitor().crossed().items()):
            crossed.add_metric([resource], 1 if state else 0)
        yield crossed
