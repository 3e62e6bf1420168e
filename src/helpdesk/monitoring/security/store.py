"""The security caches with a per-process stand-in while the shared cache is unavailable.

Login-failure counters, lockouts and the security middleware's counters live in the shared
cache (Redis with REDIS_URL). When it refuses or times out, logins must still work and
brute-force limits must still hold, so ``FailoverCache`` (one per cache alias, ``failover()``)
answers from this process's memory instead:

- the first failed call switches this process to the stand-in for
  SECURITY_CACHE_RETRY_SECONDS; no call waits on the shared cache again before then, so a hung
  Redis costs one socket timeout per interval, not one per request. The first call after that
  tries the shared cache again and leaves the stand-in when it answers;
- while degraded, failures are counted and lockouts decided per process: with N processes an
  attacker gets at most N times SECURITY_LOGIN_FAILURE_LIMIT attempts per window, not more.
  What the stand-in recorded is not copied back (it expires by itself); lockouts kept in Redis
  hold again once it answers;
- entering and leaving that mode sends ``degraded_changed``: ``receivers`` publishes
  ``sys_monitor_disabled`` / ``sys_monitor_enabled`` and sets
  ``helpdesk_security_lockout_degraded``; each failed call is reported to
  ``helpdesk.lib.outages`` (one log line per interval).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.dispatch import Signal, receiver

from helpdesk.lib import outages

logger = logging.getLogger(__name__)

# Sent with ``degraded`` (True when a process enters the stand-in mode, False when it leaves)
# and ``alias``; ``receivers`` turns it into the security event and the gauge.
degraded_changed = Signal()


class FailoverCache:
    """The cache ``alias``, or this process's stand-in while it fails (see the docstring)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.standin = LocMemCache(
            f"security-standin-{alias}", {"TIMEOUT": 3600, "OPTIONS": {"MAX_ENTRIES": 100_000}}
        )
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self.degraded = False

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() >= self._retry_at:
            try:
                result = getattr(caches[self.alias], method)(*args, **kwargs)
            except ValueError:
                raise  # incr of a missing key: an answer, not a failure
            except Exception as error:
                self.failed(error)
            else:
                if self.degraded:
                    self._recovered()
                return result
        return getattr(self.standin, method)(*args, **kwargs)

    def failed(self, error: Exception) -> None:
        """Switch to the stand-in after ``error`` from the shared cache (or its own client)."""
        outages.report("cache", error, source=f"security cache {self.alias}")
        with self._lock:
            self._retry_at = time.monotonic() + float(settings.SECURITY_CACHE_RETRY_SECONDS)
            entering, self.degraded = not self.degraded, True
        if entering:
            degraded_changed.send(FailoverCache, degraded=True, alias=self.alias)

    def _recovered(self) -> None:
        with self._lock:
            leaving, self.degraded = self.degraded, False
        if leaving:
            degraded_changed.send(FailoverCache, degraded=False, alias=self.alias)

    def get(self, key: str, default: Any = None) -> Any:
        return self._call("get", key, default)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("get_many", list(keys))
        return result

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self._call("set", key, value, timeout=timeout)

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        return bool(self._call("add", key, value, timeout=timeout))

    def incr(self, key: str, delta: int = 1) -> int:
        return int(self._call("incr", key, delta))

    def delete_many(self, keys: Iterable[str]) -> None:
        self._call("delete_many", list(keys))


_failovers: dict[str, FailoverCache] = {}
_failovers_lock = threading.Lock()


def failover(alias: str) -> FailoverCache:
    """Return this process's FailoverCache of the cache ``alias``."""
    with _failovers_lock:
        if alias not in _failovers:
            _failovers[alias] = FailoverCache(alias)
        return _failovers[alias]


@receiver(setting_changed)
def _reset(setting: str, **_: Any) -> None:
    # Another cache configuration (tests): start over, with empty stand-ins.
    if setting in {"CACHES", "REDIS_URL"}:
        with _failovers_lock:
            for store in _failovers.values():
                store.standin.clear()
            _failovers.clear()
