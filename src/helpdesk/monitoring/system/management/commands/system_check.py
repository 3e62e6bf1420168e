"""``helpdesk system-check``: print system figures; exit 1 naming what is over threshold.

Meant for cron and container checks: it judges one snapshot (no sustained-for window; the
long-running monitor fed by scrapes does that). Exit codes: 0 all under, 1 something over.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from helpdesk.monitoring.system.monitor import Sampler, Snapshot, Thresholds

logger = logging.getLogger(__name__)


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def render(snap: Snapshot, thresholds: Thresholds) -> str:
    """Return the snapshot as text lines with each figure's limit."""
    load = " ".join(f"{x:.2f}" for x in snap.load_average)
    lines = [
        f"cpu      {snap.cpu_percent:5.1f}%  (limit {thresholds.cpu:.0f}%, "
        f"{snap.cpu_cores:g} cores, {snap.cpu_source}) load {load}",
        f"memory   {snap.memory_percent:5.1f}%  (limit {thresholds.memory:.0f}%, "
        f"{_gib(snap.memory_used_bytes)} of {_gib(snap.memory_limit_bytes)}, {snap.memory_source})",
        f"swap     {snap.swap_percent:5.1f}%",
    ]
    for disk in snap.disks:
        lines.append(
            f"disk     {disk.percent:5.1f}%  (limit {thresholds.disk:.0f}%, "
            f"{_gib(disk.free_bytes)} free) {disk.path}"
        )
    process = snap.process
    lines.append(
        f"process  pid {process['pid']:.0f} rss {process['rss_bytes'] / 2**20:.0f} MiB, "
        f"{process['threads']:.0f} threads, {process['open_fds']:.0f} open fds"
    )
    return "\n".join(lines)


class Command(BaseCommand):
    """Check CPU, memory and disk against the SYSTEM_* thresholds once."""

    help = "Print system figures; exit 1 naming any resource over its threshold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        thresholds = Thresholds.from_settings()
        snapshot = Sampler().sample()
        over = thresholds.over(snapshot)
        if options["json"]:
            data = snapshot.as_dict() | {"over": sorted(over)}
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(render(snapshot, thresholds))
        if over:
            names = ", ".join(
                f"{resource} {value:.1f}% > {limit:.0f}%"
                for resource, (value, limit) in over.items()
            )
            self.stderr.write(f"over threshold: {names}")
            sys.exit(1)
        if not options["json"]:
            self.stdout.write("ok: everything under its threshold")
