"""Sources of the built-in rules: each reads one part of the app's state.

The interface is ``observe(now) -> list[Observation]`` (see ``evaluator.Source``). The
catalogue (``catalogue.py``) names a factory ``(thresholds) -> Source`` per embedded signal;
the factories are at the end of each section.

- ``ReadinessSource``: the health package's readiness checks by name -> pass/warn/fail, run
  once per evaluation.
- ``SystemSource``: CPU, memory and disk from the system monitor's cgroup-aware snapshot.
- ``HttpWindow`` with ``ErrorRatioSource`` / ``LatencySource``: the 5xx ratio and p95 latency
  over the last 5 minutes of the ``http_server_request_duration_seconds`` histogram, asked of
  the query layer (``helpdesk.monitoring.history.query``: the embedded history or Prometheus).
- ``DeliveryFailingSource`` / ``OutboxBacklogSource``: the notification outbox.
- ``ClockSkewSource``: this worker's wall clock against the database's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar, cast

from django.utils import timezone

from helpdesk.monitoring import system
from helpdesk.monitoring.alerting.evaluator import Observation
from helpdesk.monitoring.alerting.worker import clock_offset
from helpdesk.monitoring.health.runner import readiness_statuses
from helpdesk.monitoring.history import query
from helpdesk.monitoring.probes import runner
from helpdesk.monitoring.probes.models import ProbeRun

T = TypeVar("T")
Thresholds = Mapping[str, float]

logger = logging.getLogger(__name__)


def _per_evaluation(read: Callable[[], T]) -> Callable[[float], T]:
    """Return ``read`` memoised per evaluation time, so sources of one turn share a reading."""
    last: list[Any] = [None, None]

    def at(now: float) -> T:
        if last[0] != now:
            last[1] = read()
            last[0] = now
        return cast(T, last[1])

    return at


# The health runner's checks (the same run as /health/ready), once per evaluation.
_readiness = _per_evaluation(readiness_statuses)


class ReadinessSource:
    """Readiness checks failing: one observation per check (``warn`` counts as good).

    ``checks`` returns check name -> status (by default the health package's checks, run
    once per evaluation); ``only`` / ``exclude`` select checks by name.
    """

    def __init__(
        self,
        checks: Callable[[float], dict[str, str]] = _readiness,
        only: Iterable[str] = (),
        exclude: Iterable[str] = (),
    ) -> None:
        self.checks, self.only, self.exclude = checks, set(only), set(exclude)

    def observe(self, now: float) -> list[Observation]:
        return [
            Observation(
                instance=name,
                bad=status == "fail",
                labels={"check": name},
                annotations={"description": f"The {name} readiness check is {status}."},
            )
            for name, status in sorted(self.checks(now).items())
            if (not self.only or name in self.only) and name not in self.exclude
        ]


def database_down(values: Thresholds) -> ReadinessSource:
    """DatabaseDown: the app's database readiness check fails."""
    return ReadinessSource(only={"database"})


def health_check_failing(values: Thresholds) -> ReadinessSource:
    """HealthCheckFailing: any other readiness check fails (the database is DatabaseDown's)."""
    return ReadinessSource(exclude={"database"})


_snapshot = _per_evaluation(system.observe)


class SystemSource:
    """A resource of the system monitor's snapshot over (or, for free space, under) a ratio.

    The snapshot is cgroup-aware (a container's limits, not the host's); it is taken once per
    evaluation and shared by the CPU, memory and disk rules.
    """

    def __init__(self, resource: str, limit: float, snapshot: Callable[[float], Any] = _snapshot):
        self.resource, self.limit, self.snapshot = resource, limit, snapshot

    def observe(self, now: float) -> list[Observation]:
        shot = self.snapshot(now)
        if self.resource == "disk":
            return [
                Observation(
                    instance=disk.path,
                    bad=(free := 1 - disk.percent / 100) < self.limit,
                    labels={"path": disk.path},
                    annotations={
                        "description": f"{disk.path} has {free:.1%} free "
                        f"(threshold {self.limit:.0%})."
                    },
                    value=free,
                )
                for disk in shot.disks
            ]
        ratio = (shot.cpu_percent if self.resource == "cpu" else shot.memory_percent) / 100
        source = shot.cpu_source if self.resource == "cpu" else shot.memory_source
        return [
            Observation(
                instance=self.resource,
                bad=ratio > self.limit,
                labels={"source": source},
                annotations={
                    "description": f"{self.resource} is at {ratio:.1%} ({source}; threshold "
                    f"{self.limit:.0%})."
                },
                value=ratio,
            )
        ]


def cpu_usage(values: Thresholds) -> SystemSource:
    """HighCPUUsage: CPU over the ratio (of the cgroup's limit in a container)."""
    return SystemSource("cpu", values["ratio"])


def memory_usage(values: Thresholds) -> SystemSource:
    """HighMemoryUsage: memory over the ratio."""
    return SystemSource("memory", values["ratio"])


def disk_space_low(values: Thresholds) -> SystemSource:
    """DiskSpaceLow: a watched path with less free space than the ratio."""
    return SystemSource("disk", values["free_ratio"])


_HISTOGRAM = "http_server_request_duration_seconds"


class HttpWindow:
    """The HTTP figures over the last ``window_seconds``, asked of the query layer (the
    embedded history, or Prometheus with PROMETHEUS_URL): one implementation of rate and
    quantile for charts and rules."""

    def __init__(
        self, backend: Callable[[], query.Backend] = query.backend, window_seconds: int = 300
    ) -> None:
        self.backend = backend
        self.window = int(window_seconds)

    def figures(self, now: float) -> tuple[float, float, float | None, float]:
        """Return (requests, 5xx requests, p95 seconds or None, seconds covered) over the
        window ending at ``now``."""
        answer = self.backend()
        total = query.increase(f"{_HISTOGRAM}_count", self.window)
        errors = query.increase(
            f'{_HISTOGRAM}_count{{http_response_status_code=~"5.."}}', self.window
        )
        p95 = answer.instant(query.quantile(0.95, _HISTOGRAM, self.window), now)
        return (
            sum(v.value for v in answer.instant(total, now)),
            sum(v.value for v in answer.instant(errors, now)),
            p95[0].value if p95 else None,
            float(self.window),
        )


def _rate(requests: float, span: float) -> float:
    return requests / span if span > 0 else 0.0


class ErrorRatioSource:
    """The share of 5xx answers over the window, with at least ``min_rate`` requests/s."""

    def __init__(self, window: HttpWindow, ratio: float, min_rate: float) -> None:
        self.window, self.ratio, self.min_rate = window, ratio, min_rate

    def observe(self, now: float) -> list[Observation]:
        requests, errors, _, span = self.window.figures(now)
        share = errors / requests if requests else 0.0
        return [
            Observation(
                instance="http",
                bad=_rate(requests, span) > self.min_rate and share > self.ratio,
                annotations={
                    "description": f"{share:.1%} of {requests:.0f} requests answered 5xx "
                    f"(threshold {self.ratio:.0%}, with at least {self.min_rate} req/s)."
                },
                value=share,
            )
        ]


class LatencySource:
    """The p95 request duration over the window, with at least ``min_rate`` requests/s."""

    def __init__(self, window: HttpWindow, seconds: float, min_rate: float) -> None:
        self.window, self.seconds, self.min_rate = window, seconds, min_rate

    def observe(self, now: float) -> list[Observation]:
        requests, _, p95, span = self.window.figures(now)
        if p95 is None:
            return [Observation(instance="http", bad=False)]
        return [
            Observation(
                instance="http",
                bad=_rate(requests, span) > self.min_rate and p95 > self.seconds,
                annotations={
                    "description": f"p95 latency is {p95:.3f} s (threshold {self.seconds} s)."
                },
                value=p95,
            )
        ]


def high_error_rate(values: Thresholds) -> ErrorRatioSource:
    """HighErrorRate: the 5xx share over 5 minutes."""
    return ErrorRatioSource(HttpWindow(), values["ratio"], values["min_rate"])


def high_response_time(values: Thresholds) -> LatencySource:
    """HighResponseTime: the p95 over 5 minutes."""
    return LatencySource(HttpWindow(), values["seconds"], values["min_rate"])


class RequestRateSource:
    """The request rate over the window (requests/s) above ``limit``: a deployment near the
    throughput it was measured to carry."""

    def __init__(self, window: HttpWindow, limit: float) -> None:
        self.window, self.limit = window, limit

    def observe(self, now: float) -> list[Observation]:
        requests, _, _, span = self.window.figures(now)
        rate = _rate(requests, span)
        return [
            Observation(
                instance="http",
                bad=rate > self.limit,
                annotations={
                    "description": f"The app serves {rate:.1f} req/s over the last 5 minutes, "
                    f"above {self.limit:.1f} req/s (its share of the measured capacity)."
                },
                value=rate,
            )
        ]


class InFlightSource:
    """Requests in flight (``http_server_active_requests``, summed over the workers) above
    ``limit``: the workers' threads all busy, new requests queue."""

    def __init__(self, limit: float, backend: Callable[[], query.Backend] = query.backend) -> None:
        self.limit, self.backend = limit, backend

    def observe(self, now: float) -> list[Observation]:
        values = self.backend().instant(query.gauge("http_server_active_requests"), now)
        if not values:
            return [Observation(instance="http", bad=False)]
        in_flight = sum(v.value for v in values)
        return [
            Observation(
                instance="http",
                bad=in_flight > self.limit,
                annotations={
                    "description": f"{in_flight:.0f} requests in flight, above {self.limit:.1f} "
                    "(near the workers x threads that can serve at once)."
                },
                value=in_flight,
            )
        ]


def capacity_rate(values: Thresholds) -> RequestRateSource:
    """CapacityNearLimit: the request rate above ``ratio`` of ``capacity_rps``."""
    return RequestRateSource(HttpWindow(), values["ratio"] * values["capacity_rps"])


def capacity_in_flight(values: Thresholds) -> InFlightSource:
    """CapacityNearLimit: requests in flight above ``busy_ratio`` of ``slots``."""
    return InFlightSource(values["busy_ratio"] * values["slots"])


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


class OutboxBacklogSource:
    """The oldest undelivered notification waiting longer than ``seconds`` (retries count)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def observe(self, now: float) -> list[Observation]:
        from helpdesk.monitoring.alerting.models import oldest_pending_age

        age = oldest_pending_age()
        return [
            Observation(
                instance="outbox",
                bad=age > self.seconds,
                annotations={
                    "description": f"The oldest undelivered notification has waited {age:.0f} s."
                },
                value=age,
            )
        ]


def dead_letters(values: Thresholds) -> DeliveryFailingSource:
    """NotificationDeliveryFailing (dead letters): any in the last 15 minutes."""
    return DeliveryFailingSource()


def outbox_backlog(values: Thresholds) -> OutboxBacklogSource:
    """NotificationDeliveryFailing (backlog)."""
    return OutboxBacklogSource(values["backlog_seconds"])


class ProbeFailingSource:
    """The synthetic probes: one instance for all of them, so an outage is one alert."""

    def __init__(self, failures: float) -> None:
        self.failures = failures

    def observe(self, now: float) -> list[Observation]:
        failing = []
        worst = 0
        for probe in runner.PROBES:
            count = runner.consecutive_failures(probe)
            worst = max(worst, count)
            if count >= self.failures:
                last = ProbeRun.objects.filter(probe=probe).first()
                where = f"{last.failed_phase}: {last.error}" if last else "no run"
                failing.append(f"{probe} ({count} in a row, {where})")
        return [
            Observation(
                instance="probes",
                bad=bool(failing),
                annotations={
                    "description": "Failing synthetic probes: " + "; ".join(failing)
                    if failing
                    else "Every synthetic probe passes."
                },
                value=worst,
            )
        ]


def probe_failing(values: Thresholds) -> ProbeFailingSource:
    """ProbeFailing (app): a probe failed ``failures`` times in a row."""
    return ProbeFailingSource(values["failures"])


class ClockSkewSource:
    """This worker's wall clock more than ``limit`` seconds off the database's.

    The evaluator's ``now``, its windows and every time the worker writes follow that clock.
    It is read here, not taken from ``now``: a test may drive the evaluator on a clock of
    its own.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def observe(self, now: float) -> list[Observation]:
        offset = clock_offset()
        return [
            Observation(
                instance="worker",
                bad=abs(offset) > self.limit,
                annotations={
                    "description": f"This worker's clock is {offset:+.0f} s off the "
                    f"database's (threshold {self.limit:g} s): its rules are held, and the "
                    "times it writes are off by as much."
                },
                value=offset,
            )
        ]


def clock_skew(values: Thresholds) -> ClockSkewSource:
    """ClockSkew: the worker's clock is off the database's."""
    return ClockSkewSource(values["max_seconds"])
