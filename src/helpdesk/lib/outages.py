"""Log a dependency's failure once per interval, not once per request.

During an outage every request, scrape and job meets the same failure. ``report(dependency,
error)`` writes one WARNING line when ``dependency`` (``database``, ``cache``…) starts failing
in this process, then at most one every HEALTH_LOG_INTERVAL_SECONDS saying how many failures
the interval saw. The line carries the error's type, never its text (a driver's message may
name a host, a user or a DSN) and no traceback: an outage is not a bug. Recovery is logged by
the health checks ("health check database passes again").
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# dependency -> (when its last line was written, failures since then)
_seen: dict[str, tuple[float, int]] = {}


def error_type(error: BaseException) -> str:
    """Return the dotted class name of ``error``'s root cause (what the log shows)."""
    cause = error.__cause__ or error
    return f"{type(cause).__module__}.{type(cause).__qualname__}"


def report(dependency: str, error: BaseException, *, source: str = "") -> None:
    """Count a failure of ``dependency``; log it when the interval allows (see the docstring)."""
    now = time.monotonic()
    interval = float(settings.HEALTH_LOG_INTERVAL_SECONDS)
    with _lock:
        logged_at, failures = _seen.get(dependency, (float("-inf"), 0))
        failures += 1
        due = now - logged_at >= interval
        _seen[dependency] = (now, 0) if due else (logged_at, failures)
    if not due:
        return
    since = f", {failures - 1} more since the last line" if failures > 1 else ""
    logger.warning(
        "%s unavailable: %s%s%s",
        dependency,
        error_type(error),
        f" (seen by {source})" if source else "",
        since,
        extra={
            "event.action": "dependency_unavailable",
            "error.type": error_type(error),
            "labels.dependency": dependency,
            "labels.failures": failures,
        },
    )


class DropServiceUnavailable(logging.Filter):
    """Drop ``django.request``'s line for a 503 answer.

    This product answers 503 only on purpose (a failing readiness check, a dependency that is
    down), and whoever decided logs the cause once per interval; the access log still has
    every request. Other 5xx answers are bugs and keep their ERROR line with the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503


def forget() -> None:
    """Forget every failure seen (tests)."""
    with _lock:
        _seen.clear()
