"""Database inspector: health figures of the application's database, one backend per vendor.

``report(alias)`` is the one entry point; the Prometheus collector (``collector.py``), the JSON
API (``views.py``) and ``helpdesk db-stats`` all read it. Reports are cached per process for
``DB_MONITOR_CACHE_SECONDS`` so a scrape storm or many dashboards cost one refresh per TTL, and
one lock makes concurrent callers wait for a single refresh instead of each running it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import connections

from helpdesk.monitoring.database.base import UNREACHABLE, Inspector, InspectorOptions

logger = logging.getLogger(__name__)

__all__ = ["Inspector", "InspectorOptions", "clear_cache", "inspector_for", "ping", "report"]

_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def inspector_for(alias: str = "default", options: InspectorOptions | None = None) -> Inspector:
    """Return the inspector matching the vendor of the Django database ``alias``.

    Raises LookupError for a vendor without a backend.
    """
    vendor = connections[alias].vendor
    if vendor == "postgresql":
        from helpdesk.monitoring.database.postgresql import PostgreSQLInspector

        return PostgreSQLInspector(alias, options)
    if vendor == "sqlite":
        from helpdesk.monitoring.database.sqlite import SQLiteInspector

        return SQLiteInspector(alias, options)
    raise LookupError(f"no database inspector for {vendor}")


def report(alias: str = "default", *, max_age: float | None = None) -> dict[str, Any]:
    """Return the inspector report of ``alias``, reusing one younger than ``max_age`` seconds.

    ``max_age`` defaults to DB_MONITOR_CACHE_SECONDS; 0 forces a fresh report. A report made
    while the database could not be reached is not kept: the next call tries again.
    """
    ttl = settings.DB_MONITOR_CACHE_SECONDS if max_age is None else max_age
    with _lock:
        cached = _cache.get(alias)
        if cached is not None and time.monotonic() - cached[0] < ttl:
            return cached[1]
        try:
            fresh = inspector_for(alias).inspect()
        except LookupError as missing:
            # A vendor without a backend (e.g. MySQL): say so instead of failing every caller.
            fresh = {
                "vendor": connections[alias].vendor,
                "alias": alias,
                "database": str(connections[alias].settings_dict["NAME"]),
                "status": f"unavailable: {missing}",
                "duration_seconds": 0.0,
            }
        if not any(
            isinstance(section, dict) and section.get("status") == UNREACHABLE
            for section in fresh.values()
        ):
            _cache[alias] = (time.monotonic(), fresh)
        return fresh


def ping(alias: str = "default") -> None:
    """Run ``SELECT 1`` on ``alias``; raises DatabaseError when the database cannot answer."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")


def clear_cache() -> None:
    """Forget every cached report (tests, and after a configuration change)."""
    with _lock:
        _cache.clear()
