"""Sources of the built-in rules: each reads one part of the app's state.

The interface is ``observe(now) -> list[Observation]`` (see ``evaluator.Source``).

- ``ReadinessSource``: readiness checks by name → pass/warn/fail, from the health package's
  runner (the same checks, deadlines and single-flight run as ``/health/ready``).
- ``ThresholdSource``: resources over their sustained threshold, from the system monitor's
  ``threshold_crossed`` / ``threshold_cleared`` signals.
- ``HttpWindow`` with ``ErrorRatioSource`` / ``LatencySource``: the 5xx ratio and p95 latency
  over a sliding window, from the ``http_server_request_duration_seconds`` histogram
  (differences between readings, so a restart or an old burst does not count).
- ``SecurityEventSource``: counts of security events per action over a window, kept in the
  cache so web processes and the worker share them (with REDIS_URL).
- ``DeliveryFailingSource``: notifications that reached the dead letter recently.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from helpdesk.monitoring.alerting.evaluator import Observation
from helpdesk.monitoring.health.runner import readiness_statuses

logger = logging.getLogger(__name__)


class ReadinessSource:
    """Readiness checks failing: one observation per check (``warn`` counts as good)."""

    def __init__(self, checks: Callable[[], dict[str, str]] = readiness_statuses) -> None:
        self.checks = checks

    def observe(self, now: float) -> list[Observation]:
        return [
            Observation(
                instance=name,
                bad=status == "fail",
                labels={"check": name},
                annotations={"description": f"The {name} readiness check is {status}."},
            )
            for name, status in sorted(self.checks().items())
        ]


class ThresholdSource:
    """Resources over their threshold for the sustained period (system monitor signals).

    ``observe_system`` (the system package's ``observe``) is called first so the worker's own
    monitor samples; the signals then update the crossed set in this process.
    """

    def __init__(
        self,
        crossed: Any,
        cleared: Any,
        observe_system: Callable[[], object] | None = None,
    ) -> None:
        self.observe_system = observe_system
        self._lock = threading.Lock()
        self._over: dict[str, tuple[float, float, bool]] = {}
        crossed.connect(self._on_crossed, weak=False)
        cleared.connect(self._on_cleared, weak=False)

    def _on_crossed(self, sender: Any, resource: str, value: float, limit: float, **_: Any) -> None:
        with self._lock:
            self._over[resource] = (value, limit, True)

    def _on_cleared(self, sender: Any, resource: str, value: float, limit: float, **_: Any) -> None:
        with self._lock:
            self._over[resource] = (value, limit, False)

    def observe(self, now: float) -> list[Observation]:
        if self.observe_system is not None:
            self.observe_system()
        with self._lock:
            items = sorted(self._over.items())
        return [
            Observation(
                instance=resource,
                bad=over,
                labels={"resource": resource},
                annotations={
                    "description": f"{resource} is at {value:.1f}% (threshold {limit:.0f}%)."
                },
                value=value,
            )
            for resource, (value, limit, over) in items
        ]


def default_registry() -> Any:
    """Return the registry holding the web processes' HTTP metrics.

    The web server's workers write their metrics to files in PROMETHEUS_MULTIPROC_DIR (by
    default ``$HELPDESK_DATA_DIR/prometheus-multiproc``, set by gunicorn's configuration);
    when that folder exists the worker reads it with a fresh registry. Otherwise this
    process's default registry (single-process setups, tests).
    """
    import os

    import prometheus_client

    from helpdesk.monitoring.metrics.multiprocess import MultiProcessReader, folder

    path = folder(settings.DATA_DIR)
    if os.path.isdir(path):
        # The reader locks the folder against the compaction of dead workers' files.
        registry = prometheus_client.CollectorRegistry()
        registry.register(MultiProcessReader(path))
        return registry
    return prometheus_client.REGISTRY


_HISTOGRAM = "http_server_request_duration_seconds"


class HttpWindow:
    """Readings of the HTTP duration histogram, to compute figures over a sliding window."""

    def __init__(
        self, registry: Callable[[], Any] = default_registry, window_seconds: float = 300.0
    ) -> None:
        self.registry = registry
        self.window = window_seconds
        self._readings: deque[tuple[float, float, float, dict[float, float]]] = deque()
        self._taken_at: float | None = None

    def _read(self) -> tuple[float, float, dict[float, float]]:
        total = errors = 0.0
        buckets: dict[float, float] = {}
        for family in self.registry().collect():
            if family.name != _HISTOGRAM:
                continue
            for sample in family.samples:
                status = str(sample.labels.get("http_response_status_code", ""))
                if sample.name == _HISTOGRAM + "_count":
                    total += sample.value
                    if status.startswith("5"):
                        errors += sample.value
                elif sample.name == _HISTOGRAM + "_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
        return total, errors, buckets

    def update(self, now: float) -> None:
        """Take a reading (once per evaluation) and drop those older than the window."""
        if self._taken_at == now:
            return
        self._taken_at = now
        total, errors, buckets = self._read()
        if self._readings and total < self._readings[-1][1]:
            self._readings.clear()  # counters went down: the web server restarted
        self._readings.append((now, total, errors, buckets))
        while len(self._readings) > 2 and now - self._readings[1][0] >= self.window:
            self._readings.popleft()

    def figures(self) -> tuple[float, float, float | None]:
        """Return (requests, 5xx requests, p95 seconds or None) over the window."""
        if len(self._readings) < 2:
            return 0.0, 0.0, None
        _, total0, errors0, buckets0 = self._readings[0]
        _, total1, errors1, buckets1 = self._readings[-1]
        requests = total1 - total0
        delta = sorted((b, buckets1[b] - buckets0.get(b, 0.0)) for b in buckets1)
        return requests, errors1 - errors0, quantile(0.95, delta)


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Return the ``q`` quantile from cumulative (upper bound, count) buckets, interpolating
    linearly inside the bucket as Prometheus's histogram_quantile does."""
    items = sorted(buckets)
    if not items or items[-1][1] <= 0:
        return None
    rank = q * items[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in items:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


class ErrorRatioSource:
    """The share of 5xx answers over the window, once enough requests were made."""

    def __init__(self, window: HttpWindow, ratio: float, min_requests: int) -> None:
        self.window, self.ratio, self.min_requests = window, ratio, min_requests

    def observe(self, now: float) -> list[Observation]:
        self.window.update(now)
        requests, errors, _ = self.window.figures()
        share = errors / requests if requests else 0.0
        return [
            Observation(
                instance="http",
                bad=requests >= self.min_requests and share > self.ratio,
                annotations={
                    "description": f"{share:.1%} of {requests:.0f} requests answered 5xx "
                    f"(threshold {self.ratio:.1%})."
                },
                value=share,
            )
        ]


class LatencySource:
    """The p95 request duration over the window."""

    def __init__(self, window: HttpWindow, seconds: float, min_requests: int) -> None:
        self.window, self.seconds, self.min_requests = window, seconds, min_requests

    def observe(self, now: float) -> list[Observation]:
        self.window.update(now)
        requests, _, p95 = self.window.figures()
        if p95 is None:
            return [Observation(instance="http", bad=False)]
        return [
            Observation(
                instance="http",
                bad=requests >= self.min_requests and p95 > self.seconds,
                annotations={
                    "description": f"p95 latency is {p95:.3f} s (threshold {self.seconds} s)."
                },
                value=p95,
            )
        ]


# Security events worth an alert, by OWASP logging vocabulary action.
SECURITY_ACTIONS = ("authn_login_lock", "excess_rate_limit_exceeded", "malicious_excess_404")
_BUCKET = 60


def record_security_event(action: str, now: float | None = None, **_: Any) -> None:
    """Count one security event in the shared cache (a minute bucket per action)."""
    if action not in SECURITY_ACTIONS:
        return
    bucket = int((now or time.time()) // _BUCKET)
    key = f"alerting:security:{action}:{bucket}"
    try:
        cache.add(key, 0, timeout=_BUCKET * 30)
        cache.incr(key)
    except Exception:
        logger.debug("security event count not stored", exc_info=True)


class SecurityEventSource:
    """Security events per action over the last ``window_minutes``; bad at ``threshold``."""

    def __init__(self, threshold: int = 1, window_minutes: int = 5) -> None:
        self.threshold, self.window_minutes = threshold, window_minutes

    def observe(self, now: float) -> list[Observation]:
        current = int(now // _BUCKET)
        observations = []
        for action in SECURITY_ACTIONS:
            keys = [
                f"alerting:security:{action}:{b}"
                for b in range(current - self.window_minutes + 1, current + 1)
            ]
            count = sum(int(v) for v in cache.get_many(keys).values())
            observations.append(
                Observation(
                    instance=action,
                    bad=count >= self.threshold,
                    labels={"event_action": action},
                    annotations={
                        "description": f"{count} {action} events in the last "
                        f"{self.window_minutes} minutes."
                    },
                    value=count,
                )
            )
        return observations


class DeliveryFailingSource:
    """Notifications that went to the dead letter within ``window_seconds``."""

    def __init__(self, window_seconds: float = 900.0) -> None:
        self.window_seconds = window_seconds

    def observe(self, now: float) -> list[Observation]:
        from helpdesk.monitoring.alerting.models import Notification

        since = timezone.now() - timedelta(seconds=self.window_seconds)
        dead = Notification.objects.filter(status="dead", claimed_at__gte=since).count()
        return [
            Observation(
                instance="outbox",
                bad=dead > 0,
                annotations={"description": f"{dead} notifications could not be delivered."},
                value=dead,
            )
        ]
