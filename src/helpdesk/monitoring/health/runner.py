"""Run the health checks concurrently under hard deadlines; cache and share the report.

``HealthRunner.report()`` is what the endpoints call. It answers from a report younger than
``cache_seconds``; otherwise one caller runs the checks (single-flight: one lock) while the
others wait and share that report, so a storm of probes reaches each dependency at most once
per interval. Each check runs in a thread pool and is waited for until its deadline (from the
start of the run); a check still running then is reported ``fail`` with "timeout after 2.0s".
A check whose previous run is still stuck is not started again, so a hung dependency holds at
most one thread per check (the checks' own client timeouts end it soon after).

``last_report()`` is the registry other packages read (metrics, the alerting evaluator)
instead of probing again. Status changes are logged once, and a failing check again at most
every ``HEALTH_LOG_INTERVAL_SECONDS``, with the exception's type but never its text.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections
from django.dispatch import receiver
from django.utils.module_loading import import_string

from helpdesk.monitoring.health.checks import HealthCheck, HealthCheckError, Value

logger = logging.getLogger(__name__)

PASS, WARN, FAIL = "pass", "warn", "fail"
STATUSES = (PASS, WARN, FAIL)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check in one run."""

    name: str
    key: str
    component_type: str
    critical: bool
    status: str
    observed_value: Value
    observed_unit: str | None
    output: str
    time: str
    duration: float
    error_type: str = ""

    @property
    def effective_status(self) -> str:
        """The status as readiness sees it: a non-critical failure only warns."""
        return WARN if self.status == FAIL and not self.critical else self.status


@dataclass(frozen=True)
class Report:
    """The results of one run of every check, with the overall status."""

    status: str
    results: tuple[CheckResult, ...]
    finished_at: float
    duration: float

    def statuses(self) -> dict[str, str]:
        """Return check name → effective status (pass/warn/fail)."""
        return {result.name: result.effective_status for result in self.results}


def overall(results: Sequence[CheckResult]) -> str:
    """Return fail if a critical check failed, warn if anything else is not passing."""
    effective = {result.effective_status for result in results}
    if FAIL in effective:
        return FAIL
    return WARN if WARN in effective else PASS


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _execute(check: HealthCheck) -> CheckResult:
    """Run one check in a pool thread and turn its outcome into a result."""
    started = time.perf_counter()
    status, value, output, error_type = PASS, None, "", ""
    try:
        value = check.run()
    except HealthCheckError as error:
        status, value, output = error.status, error.observed_value, error.message
        cause = error.__cause__ or error
        error_type = f"{type(cause).__module__}.{type(cause).__qualname__}"
    except Exception as error:
        # A bug, not an outage: keep the traceback in the log, show a fixed phrase.
        status, output, error_type = FAIL, "unexpected error", type(error).__qualname__
        logger.exception(
            "health check %s raised", check.name, extra={"event.action": "health_check_error"}
        )
    finally:
        # The pool thread's own database connections (SQLite probe, migrations, heartbeat):
        # closed here so no thread keeps one open between runs.
        connections.close_all()
    return _result(check, status, value, output, time.perf_counter() - started, error=error_type)


def _result(
    check: HealthCheck, status: str, value: Value, output: str, duration: float, *, error: str
) -> CheckResult:
    return CheckResult(
        name=check.name,
        key=check.key,
        component_type=check.component_type,
        critical=check.critical,
        status=status,
        observed_value=value,
        observed_unit=check.unit,
        output=output,
        time=_now(),
        duration=duration,
        error_type=error,
    )


class HealthRunner:
    """Run ``checks`` concurrently with deadlines; cache the report (see module docstring)."""

    def __init__(
        self,
        checks: Sequence[HealthCheck],
        cache_seconds: float | None = None,
        log_interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = list(checks)
        names = [check.name for check in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"health check names must be unique: {names}")
        # None: HEALTH_CACHE_SECONDS / HEALTH_LOG_INTERVAL_SECONDS.
        self.cache_seconds = (
            settings.HEALTH_CACHE_SECONDS if cache_seconds is None else cache_seconds
        )
        self.log_interval = (
            settings.HEALTH_LOG_INTERVAL_SECONDS if log_interval is None else log_interval
        )
        self.clock = clock
        self._lock = threading.Lock()
        self._last: Report | None = None
        # Twice the checks: one stuck thread per check plus a fresh run of each.
        self._pool = ThreadPoolExecutor(
            max_workers=max(2, 2 * len(self.checks)), thread_name_prefix="health"
        )
        self._running: dict[str, Future[CheckResult]] = {}
        self._logged: dict[str, tuple[str, float]] = {}

    @property
    def last(self) -> Report | None:
        return self._last

    def report(self, max_age: float | None = None) -> Report:
        """Return a report younger than ``max_age`` (default: the cache time), running the
        checks at most once at a time; a run that ended while the caller waited is shared."""
        asked = self.clock()
        max_age = self.cache_seconds if max_age is None else max_age
        with self._lock:
            last = self._last
            if last is not None and (
                last.finished_at >= asked or self.clock() - last.finished_at < max_age
            ):
                return last
            report = self.run()
            self._last = report
            return report

    def run(self) -> Report:
        """Run every check now (uncached) and return the report."""
        start = self.clock()
        futures: dict[str, Future[CheckResult] | None] = {}
        for check in self.checks:
            previous = self._running.get(check.name)
            if previous is not None and not previous.done():
                futures[check.name] = None
                continue
            future = self._pool.submit(_execute, check)
            self._running[check.name] = future
            futures[check.name] = future
        results = []
        for check in self.checks:
            pending = futures[check.name]
            result = None
            if pending is not None:
                with contextlib.suppress(FutureTimeout):
                    result = pending.result(timeout=max(0.0, start + check.deadline - self.clock()))
            if result is None:
                still = "" if pending is not None else " (previous probe still running)"
                output = f"timeout after {check.deadline:.1f}s{still}"
                result = _result(check, FAIL, None, output, self.clock() - start, error="timeout")
            results.append(result)
        finished = self.clock()
        report = Report(overall(results), tuple(results), finished, finished - start)
        self._log_changes(report)
        return report

    def _log_changes(self, report: Report) -> None:
        now = report.finished_at
        for result in report.results:
            before, logged_at = self._logged.get(result.name, (PASS, float("-inf")))
            changed = result.status != before
            repeat = result.status != PASS and now - logged_at >= self.log_interval
            if not (changed or repeat):
                continue
            self._logged[result.name] = (result.status, now)
            extra: dict[str, Any] = {
                "event.action": "health_check_status",
                "health.check": result.name,
                "health.status": result.status,
            }
            if result.status == PASS:
                logger.info("health check %s passes again", result.name, extra=extra)
                continue
            extra["error.type"] = result.error_type
            log = logger.warning if result.critical or result.status == WARN else logger.info
            log(
                "health check %s: %s (%s)",
                result.name,
                result.status,
                result.output,
                extra=extra,
            )


def build_checks(config: Sequence[dict[str, Any]]) -> list[HealthCheck]:
    """Instantiate the checks of ``HEALTH_CHECKS`` entries.

    Each entry is ``{"check": dotted path, "critical": bool, "deadline": seconds, "options":
    {...}}``; names listed in ``HEALTH_NON_CRITICAL`` are made non-critical.
    """
    non_critical = set(settings.HEALTH_NON_CRITICAL)
    checks = []
    for entry in config:
        cls = import_string(entry["check"])
        check = cls(
            critical=entry.get("critical", True),
            deadline=entry.get("deadline"),
            **entry.get("options", {}),
        )
        check.critical = check.critical and check.name not in non_critical
        checks.append(check)
    return checks


_default: HealthRunner | None = None
_default_lock = threading.Lock()


def default_runner() -> HealthRunner:
    """Return this process's runner of the checks in ``settings.HEALTH_CHECKS``."""
    global _default  # noqa: PLW0603 - one runner per process, built on first use
    runner = _default
    if runner is None:
        with _default_lock:
            if _default is None:
                _default = HealthRunner(
                    build_checks(settings.HEALTH_CHECKS),
                    cache_seconds=settings.HEALTH_CACHE_SECONDS,
                    log_interval=settings.HEALTH_LOG_INTERVAL_SECONDS,
                )
            runner = _default
    return runner


def last_report() -> Report | None:
    """Return the last report of this process's runner without running anything."""
    return _default.last if _default is not None else None


def readiness_statuses() -> dict[str, str]:
    """Return check name → effective status, for the alerting evaluator.

    The evaluator has its own interval, so it asks for a fresh run (still shared with any
    probe running at that moment) rather than a report up to HEALTH_CACHE_SECONDS old.
    """
    return default_runner().report(max_age=0.0).statuses()


_RUNNER_SETTINGS = {
    "HEALTH_CHECKS",
    "HEALTH_CACHE_SECONDS",
    "HEALTH_DEADLINE_SECONDS",
    "HEALTH_LOG_INTERVAL_SECONDS",
    "HEALTH_NON_CRITICAL",
    "CACHES",
    "DATABASES",
}


@receiver(setting_changed)
def _reset(setting: str, **_: Any) -> None:
    global _default  # noqa: PLW0603
    if setting in _RUNNER_SETTINGS:
        _default = None
