"""System checks: brute-force counters need a cache every web process shares."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core import checks

logger = logging.getLogger(__name__)


def cache_is_shared(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when login-failure counters are not shared by every web process and host."""
    backend = str(settings.CACHES.get("security", {}).get("BACKEND", ""))
    if backend.endswith(("LocMemCache", "DummyCache")) or "security" not in settings.CACHES:
        return [
            checks.Warning(
                "Login-failure counters and lockouts are kept in local memory, which every "
                "process has its own copy of: with several web workers an attacker gets a "
                "limit per worker, and `helpdesk security-unlock` reaches one process.",
                hint="Set REDIS_URL so every process shares the counters.",
                id="security.W001",
            )
        ]
    if backend.endswith("FileBasedCache") and settings.PRODUCTION:
        return [
            checks.Warning(
                "Login-failure counters and lockouts are kept in a file cache: shared by the "
                "processes of this host only, with increments that can race.",
                hint="Set REDIS_URL so every process and host shares the counters.",
                id="security.W001",
            )
        ]
    return []


def lockout_backend_first(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Fail when the lockout gate is not the first authentication backend."""
    backends = list(settings.AUTHENTICATION_BACKENDS)
    expected = "helpdesk.monitoring.security.backends.LockoutBackend"
    if not backends or backends[0] != expected:
        return [
            checks.Error(
                "Logins bypass the brute-force lockout.",
                hint=f"Put {expected} first in AUTHENTICATION_BACKENDS.",
                id="security.E001",
            )
        ]
    return []


def register() -> None:
    """Register the checks (tagged ``security``)."""
    checks.register(cache_is_shared, checks.Tags.security, deploy=False)
    checks.register(lockout_backend_first, checks.Tags.security)
