"""System: is the machine (or container) running out of something? CPU, memory, swap, disks
and load now against the SYSTEM_* thresholds, the cgroup limits the figures are measured
against, and this web process; CPU, memory and disk use over the range from the history."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse

from helpdesk.monitoring import system
from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import reader_required
from helpdesk.monitoring.console.charts import Chart, Series
from helpdesk.monitoring.console.views import FAIL, OK, WARN, render_page
from helpdesk.monitoring.history import query as q

logger = logging.getLogger(__name__)

# A resource within this share of its limit warns before the limit (the alert) is reached.
NEAR_LIMIT = 0.9
_RANK = {OK: 0, WARN: 1, FAIL: 2}

charts.register(
    Chart(
        "system.utilisation",
        "CPU and memory use",
        "ratio",
        (
            Series("CPU", lambda w: q.gauge("helpdesk_system_cpu_utilisation_ratio", agg="max")),
            Series(
                "memory", lambda w: q.gauge("helpdesk_system_memory_utilisation_ratio", agg="max")
            ),
            Series("swap", lambda w: q.gauge("helpdesk_system_swap_utilisation_ratio", agg="max")),
        ),
        "Shares of the CPU and memory available to the app (its cgroup's limits when it has them).",
    )
)
charts.register(
    Chart(
        "system.disk",
        "Disk use",
        "ratio",
        (
            Series(
                "{path}",
                lambda w: q.gauge("helpdesk_system_disk_utilisation_ratio", by=["path"], agg="max"),
            ),
        ),
        "Used share of each monitored file system, as df shows it.",
    )
)
charts.register(
    Chart(
        "system.process",
        "Web process memory",
        "bytes",
        (
            Series(
                "resident",
                lambda w: q.gauge("helpdesk_system_process_resident_memory_bytes", agg="max"),
            ),
        ),
        "Resident memory of the largest app process that served /metrics.",
    )
)


def level(value: float, limit: float) -> str:
    """Return fail over the limit, warn within NEAR_LIMIT of it, else ok."""
    if value > limit:
        return FAIL
    return WARN if value >= limit * NEAR_LIMIT else OK


def summary(snapshot: system.Snapshot, thresholds: system.Thresholds) -> dict[str, Any]:
    """Return the page's figures and tables from a snapshot and the thresholds."""
    figures: list[dict[str, Any]] = [
        {
            "label": f"CPU ({snapshot.cpu_source}, {snapshot.cpu_cores:g} cores)"
            f" · limit {thresholds.cpu:.0f} %",
            "value": snapshot.cpu_percent / 100,
            "unit": "ratio",
            "limit": thresholds.cpu,
            "status": level(snapshot.cpu_percent, thresholds.cpu),
        },
        {
            "label": f"Memory ({snapshot.memory_source}) · limit {thresholds.memory:.0f} %",
            "value": snapshot.memory_percent / 100,
            "unit": "ratio",
            "limit": thresholds.memory,
            "status": level(snapshot.memory_percent, thresholds.memory),
        },
    ]
    for disk in snapshot.disks:
        figures.append(
            {
                "label": f"Disk {disk.path} · limit {thresholds.disk:.0f} %",
                "value": disk.percent / 100,
                "unit": "ratio",
                "limit": thresholds.disk,
                "status": level(disk.percent, thresholds.disk),
            }
        )
    worst = max((figure["status"] for figure in figures), key=[OK, WARN, FAIL].index, default=OK)
    return {
        "status": worst,
        "figures": figures,
        "snapshot": snapshot,
        "load": snapshot.load_average,
        "thresholds": thresholds,
    }


@reader_required
def system_page(request: HttpRequest) -> HttpResponse:
    """Render the system page (a fresh snapshot, which also feeds the threshold monitor)."""
    snapshot = system.observe()
    return render_page(
        request,
        "console/system.html",
        "system",
        {
            "sys": summary(snapshot, system.monitor().thresholds),
            "crossed": sorted(name for name, on in system.monitor().crossed().items() if on),
            "charts": ["system.utilisation", "system.disk", "system.process"],
        },
    )
