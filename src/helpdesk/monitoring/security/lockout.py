"""Brute-force protection: login-failure counters and lockouts in the shared cache.

Failures are counted per client IP and per account (keyed hash of the username) in fixed
buckets of SECURITY_LOGIN_FAILURE_WINDOW seconds; the count is the current bucket plus the
previous one, so N failures within any window always lock (the counter forgets a failure
after one to two windows). Reaching SECURITY_LOGIN_FAILURE_LIMIT locks the IP or the account
for SECURITY_LOCKOUT_SECONDS (doubling per repeated lockout up to SECURITY_LOCKOUT_MAX_SECONDS
when SECURITY_LOCKOUT_PROGRESSIVE is on).

Every key lives in the ``security`` cache: Redis when REDIS_URL is set, so every web process
and host shares them; otherwise a file cache under HELPDESK_DATA_DIR, shared by the processes
of one host (the embedded default runs several gunicorn workers). Login attempts are rare, so
the file cache's cost does not matter; its increments are not atomic across processes, which
can lose a count under a race (use Redis in production; a system check says so). Lockouts carry
their end time, so a clock can be injected (tests) and the cache TTL is only the garbage
collection. While that cache is unavailable (Redis down or hung) the counters and lockouts
live in the process's memory: logins keep working and the limits hold per process
(``helpdesk.monitoring.security.store``).

Account lockout must not become a way to lock a victim out: with
SECURITY_LOCKOUT_ALLOW_CLEAN_IP a correct password from an IP with no recent failures still
logs in to a locked account (a wrong one from there counts as usual). IP lockout always holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.store import FailoverCache, failover
from helpdesk.monitoring.security.usernames import hash_username

logger = logging.getLogger(__name__)

SCOPES = ("ip", "account")
CACHE_ALIAS = "security"


def _store() -> FailoverCache:
    """Return the cache of counters and lockouts (settings.CACHES["security"]), or this
    process's stand-in while it is unavailable (``store``)."""
    return failover(CACHE_ALIAS)


_INDEX_TTL = 7 * 24 * 3600


@dataclass(frozen=True)
class Lock:
    """An active lockout."""

    scope: str
    key: str
    until: float
    level: int

    def retry_after(self, now: float) -> int:
        """Return whole seconds until the lockout ends (at least 1)."""
        return max(1, int(self.until - now + 0.999))


@dataclass(frozen=True)
class FailureResult:
    """What one recorded failure led to."""

    ip_failures: int
    account_failures: int
    locks: tuple[Lock, ...]


def account_key(username: str) -> str:
    """Return the cache identity of an account: the keyed hash of its username."""
    return hash_username(username)


class LockoutEngine:
    """Count failures and decide lockouts (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    # -- settings, read on each call so tests can override them ---------------------------
    @property
    def limit(self) -> int:
        return int(settings.SECURITY_LOGIN_FAILURE_LIMIT)

    @property
    def window(self) -> int:
        return max(1, int(settings.SECURITY_LOGIN_FAILURE_WINDOW))

    def _duration(self, level: int) -> float:
        base = float(settings.SECURITY_LOCKOUT_SECONDS)
        if not settings.SECURITY_LOCKOUT_PROGRESSIVE:
            return base
        return min(base * 2 ** (level - 1), float(settings.SECURITY_LOCKOUT_MAX_SECONDS))

    # -- counters -------------------------------------------------------------------------
    def _bucket(self, now: float) -> int:
        return int(now // self.window)

    def _count(self, scope: str, ident: str, now: float) -> int:
        bucket = self._bucket(now)
        keys = [f"security:fail:{scope}:{ident}:{b}" for b in (bucket - 1, bucket)]
        return sum(int(v) for v in _store().get_many(keys).values())

    def _incr(self, key: str, ttl: int) -> int:
        if _store().add(key, 1, timeout=ttl):
            return 1
        try:
            return int(_store().incr(key))
        except ValueError:  # expired between add and incr
            _store().add(key, 1, timeout=ttl)
            return 1

    def failures(self, scope: str, ident: str) -> int:
        """Return the failures counted for an IP or account key in the current window."""
        return self._count(scope, ident, self.clock())

    # -- lockouts -------------------------------------------------------------------------
    def lock_of(self, scope: str, ident: str) -> Lock | None:
        """Return the active lockout of an IP or account key, or None."""
        value = _store().get(f"security:lock:{scope}:{ident}")
        if not isinstance(value, dict) or value.get("until", 0) <= self.clock():
            return None
        return Lock(scope, ident, float(value["until"]), int(value.get("level", 1)))

    def _lock(self, scope: str, ident: str, now: float) -> Lock:
        level_key = f"security:lock-level:{scope}:{ident}"
        level = int(_store().get(level_key) or 0) + 1
        _store().set(level_key, level, timeout=24 * 3600)
        until = now + self._duration(level)
        _store().set(
            f"security:lock:{scope}:{ident}",
            {"until": until, "level": level},
            timeout=int(until - now) + 60,
        )
        self._index_update(scope, ident, until)
        return Lock(scope, ident, until, level)

    def _index_update(self, scope: str, ident: str, until: float | None) -> None:
        # An index of lockouts for the gauge and the admin list. Lockouts are rare, so a
        # read-modify-write is enough: a lost entry only hides a lock from the list.
        key = f"security:locks:{scope}"
        index: dict[str, float] = _store().get(key) or {}
        now = self.clock()
        index = {k: v for k, v in index.items() if v > now}
        if until is None:
            index.pop(ident, None)
        else:
            index[ident] = until
        _store().set(key, index, timeout=_INDEX_TTL)

    def active_locks(self, scope: str) -> list[Lock]:
        """Return the active lockouts of a scope (from the index, checked against the locks)."""
        index: dict[str, float] = _store().get(f"security:locks:{scope}") or {}
        locks = [self.lock_of(scope, ident) for ident in index]
        return [lock for lock in locks if lock is not None]

    def check(self, ip: str, username: str | None) -> Lock | None:
        """Return the lockout that refuses a login attempt now, or None to let it proceed.

        The IP's lockout always refuses. The account's refuses too, unless
        SECURITY_LOCKOUT_ALLOW_CLEAN_IP is on and this IP has no recent failures.
        """
        now = self.clock()
        ip_lock = self.lock_of("ip", ip)
        if ip_lock is not None:
            return ip_lock
        if not username:
            return None
        account_lock = self.lock_of("account", account_key(username))
        if account_lock is None:
            return None
        if settings.SECURITY_LOCKOUT_ALLOW_CLEAN_IP and self._count("ip", ip, now) == 0:
            return None
        return account_lock

    def record_failure(self, ip: str, username: str | None) -> FailureResult:
        """Count a failed login; returns the counts and any lockout it started."""
        now = self.clock()
        ttl = self.window * 2 + 60
        bucket = self._bucket(now)
        self._incr(f"security:fail:ip:{ip}:{bucket}", ttl)
        ip_count = self._count("ip", ip, now)
        account_count = 0
        locks: list[Lock] = []
        if username:
            ident = account_key(username)
            self._incr(f"security:fail:account:{ident}:{bucket}", ttl)
            account_count = self._count("account", ident, now)
            if account_count >= self.limit and self.lock_of("account", ident) is None:
                locks.append(self._lock("account", ident, now))
        if ip_count >= self.limit and self.lock_of("ip", ip) is None:
            locks.append(self._lock("ip", ip, now))
        return FailureResult(ip_count, account_count, tuple(locks))

    def reset_account(self, username: str) -> None:
        """Forget an account's failures (after a successful login)."""
        ident = account_key(username)
        bucket = self._bucket(self.clock())
        _store().delete_many([f"security:fail:account:{ident}:{b}" for b in (bucket - 1, bucket)])

    def unlock(self, scope: str, ident: str) -> bool:
        """Lift a lockout and forget its failures; returns True when one was active."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        was_locked = self.lock_of(scope, ident) is not None
        bucket = self._bucket(self.clock())
        _store().delete_many(
            [f"security:lock:{scope}:{ident}", f"security:lock-level:{scope}:{ident}"]
            + [f"security:fail:{scope}:{ident}:{b}" for b in (bucket - 1, bucket)]
        )
        self._index_update(scope, ident, None)
        return was_locked

    def unlock_user(self, username: str) -> bool:
        """Lift an account's lockout by username."""
        return self.unlock("account", account_key(username))

    def describe(self) -> dict[str, Any]:
        """Return the active lockouts by scope, for the API and the command."""
        now = self.clock()
        return {
            scope: [
                {"key": lock.key, "until": lock.until, "retry_after": lock.retry_after(now)}
                for lock in self.active_locks(scope)
            ]
            for scope in SCOPES
        }


engine = LockoutEngine()


def lift(
    scope: str, ident: str, *, reason: str, request: HttpRequest | None = None, **fields: Any
) -> bool:
    """Lift a lockout and publish ``authn_login_unlock`` with who asked and why (``reason``, or
    "nothing to unlock"); returns True when one was active. The one way the API, the console
    and ``security-unlock`` unlock.

    ``ident`` is the IP, or the account key (the username's keyed hash: ``account_key``);
    ``fields`` add to the event (``username`` is hashed by the event bus).
    """
    unlocked = engine.unlock(scope, ident)
    target = {"target_ip": ident} if scope == "ip" else {"username_hash": ident}
    events.publish_for(
        request,
        "authn_login_unlock",
        reason=reason if unlocked else "nothing to unlock",
        **target,
        **fields,
    )
    return unlocked
