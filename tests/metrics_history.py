"""Feed a prometheus_client registry into the embedded history at chosen times, for tests of
what reads the history through the query layer (alert sources, charts)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from helpdesk.monitoring.history.sampler import Sampler

# Two hours ago, on the hour: inside the minute retention, whatever the test's clock.
T0 = int(time.time()) // 3600 * 3600 - 7200


class Recorder:
    """Sample ``registry`` into the history when told, as the worker would."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.now = float(T0)
        self.sampler = Sampler(registry.collect, clock=lambda: self.now, owner="test-recorder")

    def at(self, offset: float) -> float:
        """Take a sample at ``T0 + offset``; return that time."""
        self.now = T0 + offset
        self.sampler.sample()
        return self.now
