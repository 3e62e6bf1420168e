"""System monitor: CPU, memory, disk, I/O and the app's own process, container-aware.

``observe()`` takes a snapshot with the process-wide sampler and feeds the process-wide
``ThresholdMonitor``; the Prometheus collector calls it at every scrape, so crossings are
judged at the scrape interval. Subscribe to ``signals.threshold_crossed`` /
``threshold_cleared`` to act on them.
"""

from __future__ import annotations

import logging
import threading

from helpdesk.monitoring.system.monitor import Sampler, Snapshot, ThresholdMonitor, Thresholds

logger = logging.getLogger(__name__)

__all__ = ["Sampler", "Snapshot", "ThresholdMonitor", "Thresholds", "monitor", "observe", "sampler"]

_lock = threading.Lock()
_sampler: Sampler | None = None
_monitor: ThresholdMonitor | None = None


def sampler() -> Sampler:
    """Return the process-wide sampler (it keeps the previous CPU reading)."""
    global _sampler  # noqa: PLW0603 - one lazily built instance per process
    with _lock:
        if _sampler is None:
            _sampler = Sampler()
        return _sampler


def monitor() -> ThresholdMonitor:
    """Return the process-wide threshold monitor."""
    global _monitor  # noqa: PLW0603 - one lazily built instance per process
    with _lock:
        if _monitor is None:
            _monitor = ThresholdMonitor()
        return _monitor


def observe() -> Snapshot:
    """Take a snapshot, feed it to the threshold monitor, and return it."""
    snapshot = sampler().sample()
    monitor().observe(snapshot)
    return snapshot
