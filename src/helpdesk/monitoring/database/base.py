"""The inspector interface every database backend implements, and its section runner.

A report is a JSON-ready dict: ``vendor``, ``database``, ``collected_at``, ``duration_seconds``
and one dict per section (``connections``, ``tables``…), each with a ``status``: ``ok``,
``unavailable: <why>`` (the feature is absent, not broken) or ``error: <what>``. A failing
section never fails the report; its detail goes to the log, not to the caller. When the
database itself cannot be reached the remaining sections are not tried (each would wait for
the same failure): they read ``error: database unavailable`` and the outage is logged once
per interval (``helpdesk.lib.outages``) instead of once per section with a traceback.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.conf import settings
from django.db import InterfaceError, OperationalError

from helpdesk.lib import outages

logger = logging.getLogger(__name__)

Section = dict[str, Any]
UNREACHABLE = "error: database unavailable"


@dataclass(frozen=True)
class InspectorOptions:
    """Tuning shared by every backend; the DB_MONITOR_* settings hold the defaults."""

    statement_timeout_ms: int
    long_running_seconds: float
    top_n: int

    @classmethod
    def from_settings(cls, **overrides: Any) -> InspectorOptions:
        """Return the options configured by the DB_MONITOR_* settings, with ``overrides``."""
        options = {
            "statement_timeout_ms": settings.DB_MONITOR_STATEMENT_TIMEOUT_MS,
            "long_running_seconds": settings.DB_MONITOR_LONG_RUNNING_SECONDS,
            "top_n": settings.DB_MONITOR_TOP_N,
        }
        return cls(**{**options, **overrides})


class SectionUnavailable(Exception):
    """Raised by a section whose feature is absent; the message is shown to the caller."""


class Inspector(ABC):
    """Read a database's health figures through one Django connection alias.

    Subclasses list their sections in ``sections()``; ``inspect()`` runs each one, bounded by
    ``options.statement_timeout_ms``, and returns the report.
    """

    vendor: ClassVar[str]

    def __init__(self, alias: str = "default", options: InspectorOptions | None = None) -> None:
        self.alias = alias
        self.options = options or InspectorOptions.from_settings()

    @abstractmethod
    def database_name(self) -> str:
        """Return the name shown for the inspected database."""

    @abstractmethod
    def sections(self) -> dict[str, Callable[[], Section]]:
        """Return the section readers by name, in display order."""

    def inspect(self) -> dict[str, Any]:
        """Run every section and return the report (never raises for a failing section)."""
        started = time.perf_counter()
        report: dict[str, Any] = {
            "vendor": self.vendor,
            "alias": self.alias,
            "database": self.database_name(),
            "collected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        reachable = True
        for name, reader in self.sections().items():
            if not reachable:
                report[name] = {"status": UNREACHABLE}
                continue
            report[name] = self._run(name, reader)
            reachable = report[name]["status"] != UNREACHABLE
        report["duration_seconds"] = round(time.perf_counter() - started, 6)
        return report

    def is_outage(self, error: Exception) -> bool:
        """Return True when ``error`` means the database cannot be reached at all."""
        return isinstance(error, OperationalError | InterfaceError)

    def _run(self, name: str, reader: Callable[[], Section]) -> Section:
        try:
            section = reader()
        except SectionUnavailable as reason:
            return {"status": f"unavailable: {reason}"}
        except Exception as error:
            if self.is_outage(error):
                outages.report("database", error, source="database inspector")
                return {"status": UNREACHABLE}
            # The exception text may name tables, roles or hosts: log it, show only its kind.
            logger.warning(
                "database inspector section %s failed",
                name,
                exc_info=True,
                extra={"event.action": "db_inspect_error", "db.section": name},
            )
            return {"status": f"error: {self._describe(error)}"}
        section.setdefault("status", "ok")
        return section

    def _describe(self, error: Exception) -> str:
        """Return a caller-safe description of a section failure."""
        return type(error).__name__
