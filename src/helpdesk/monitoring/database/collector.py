"""Prometheus collector ``helpdesk_db_*``: the inspector report as metric families.

Registered in settings HELPDESK_METRICS_COLLECTORS and read at scrape time; it serves the
cached report (DB_MONITOR_CACHE_SECONDS), so scrapes never inspect the database more often
than that. Every scrape first runs ``SELECT 1`` (bounded like every query, docs/reliability.md),
so ``helpdesk_db_inspector_up`` reads 0 on the first scrape after the database goes away
rather than when the cached report expires. Table labels are bounded by DB_MONITOR_TOP_N; query
text is never a label.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError, connections
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from helpdesk.lib import outages
from helpdesk.monitoring import database

logger = logging.getLogger(__name__)


def _ok(section: Any) -> bool:
    return isinstance(section, dict) and section.get("status") == "ok"


class DatabaseCollector(Collector):
    """Yield the ``helpdesk_db_*`` families of the default database."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield gauges from the (cached) report; ``helpdesk_db_inspector_up`` 0 on failure."""
        up = GaugeMetricFamily(
            "helpdesk_db_inspector_up",
            "1 when the database inspector could read the database, else 0.",
            labels=["vendor"],
        )
        try:
            database.ping(self.alias)
            data = database.report(self.alias)
        except DatabaseError as error:
            outages.report("database", error, source="database inspector")
            up.add_metric([connections[self.alias].vendor], 0)
            yield up
            return
        except Exception:
            logger.warning("database inspector failed", exc_info=True)
            up.add_metric(["unknown"], 0)
            yield up
            return
        vendor = data["vendor"]
        sections = [value for value in data.values() if isinstance(value, dict)]
        failed = "status" in data or any(s["status"].startswith("error") for s in sections)
        up.add_metric([vendor], 0 if failed else 1)
        yield up
        if "status" in data:  # no inspector for this vendor: nothing more to say
            return
        yield self._gauge(
            "helpdesk_db_inspect_duration_seconds",
            "Time the last inspector refresh took.",
            data["duration_seconds"],
        )
        yield from self._common(data)
        if vendor == "postgresql":
            yield from self._postgresql(data)
        elif vendor == "sqlite":
            yield from self._sqlite(data)

    @staticmethod
    def _gauge(name: str, doc: str, value: float | None, unit: str = "") -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, unit=unit)
        if value is not None:
            family.add_metric([], value)
        return family

    def _tables(self, rows: list[dict[str, Any]]) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily(
            "helpdesk_db_table_size_bytes",
            "Size of the largest tables (top DB_MONITOR_TOP_N) by part: table, indexes, total.",
            labels=["table", "part"],
        )
        for row in rows:
            for part in ("table", "index", "total"):
                if f"{part}_bytes" in row:
                    size.add_metric([row["name"], part], row[f"{part}_bytes"])
        yield size

    def _common(self, data: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
        tables = data.get("tables", {})
        if _ok(tables):
            yield self._gauge("helpdesk_db_tables", "Number of user tables.", tables["count"])
            yield from self._tables(tables["top"])

    def _postgresql(self, data: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
        conns = data["connections"]
        if _ok(conns):
            by_state = GaugeMetricFamily(
                "helpdesk_db_connections",
                "Client connections to this database by state (pg_stat_activity).",
                labels=["state"],
            )
            for state, count in sorted(conns["by_state"].items()):
                by_state.add_metric([state], count)
            yield by_state
            yield self._gauge(
                "helpdesk_db_max_connections", "Server max_connections.", conns["max_connections"]
            )
            yield self._gauge(
                "helpdesk_db_connection_utilisation_ratio",
                "Client connections of the whole server over max_connections.",
                conns["utilisation_ratio"],
            )
        running = data["long_running"]
        if _ok(running):
            yield self._gauge(
                "helpdesk_db_long_running_queries",
                "Queries active longer than DB_MONITOR_LONG_RUNNING_SECONDS.",
                len(running["queries"]),
            )
            yield self._gauge(
                "helpdesk_db_long_running_transactions",
                "Transactions open longer than DB_MONITOR_LONG_RUNNING_SECONDS.",
                len(running["transactions"]),
            )
        locks = data["locks"]
        if _ok(locks):
            yield self._gauge(
                "helpdesk_db_lock_waiting_sessions",
                "Sessions waiting on a lock held by another session.",
                locks["waiting_count"],
            )
        statements = data["statements"]
        yield self._gauge(
            "helpdesk_db_statements_available",
            "1 when pg_stat_statements can be read, else 0.",
            1 if _ok(statements) else 0,
        )
        if _ok(statements) and statements["top_by_mean"]:
            yield self._gauge(
                "helpdesk_db_slowest_statement_mean_seconds",
                "Highest mean execution time among pg_stat_statements entries.",
                statements["top_by_mean"][0]["mean_seconds"],
            )
        if _ok(data["size"]):
            yield self._gauge(
                "helpdesk_db_size_bytes", "Size of the database.", data["size"]["bytes"]
            )
        if _ok(data["vacuum"]):
            yield self._gauge(
                "helpdesk_db_dead_tuples",
                "Dead tuples waiting for vacuum, all user tables.",
                data["vacuum"]["dead_tuples_total"],
            )
        if _ok(data["cache"]):
            yield self._gauge(
                "helpdesk_db_cache_hit_ratio",
                "Share of block reads served from shared buffers.",
                data["cache"]["hit_ratio"],
            )
        replication = data["replication"]
        if _ok(replication) and replication["role"] == "replica":
            yield self._gauge(
                "helpdesk_db_replication_lag_seconds",
                "Age of the last replayed transaction on this replica.",
                replication["lag_seconds"],
            )

    def _sqlite(self, data: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
        file = data["file"]
        if not _ok(file):
            return
        yield self._gauge("helpdesk_db_size_bytes", "Size of the database.", file["size_bytes"])
        yield self._gauge(
            "helpdesk_db_page_size_bytes", "SQLite page size.", file["page_size_bytes"]
        )
        yield self._gauge("helpdesk_db_pages", "SQLite page count.", file["page_count"])
        yield self._gauge(
            "helpdesk_db_freelist_pages", "SQLite pages on the freelist.", file["freelist_pages"]
        )
        if file["wal_bytes"] is not None:
            yield self._gauge(
                "helpdesk_db_wal_size_bytes",
                "Size of the SQLite write-ahead log.",
                file["wal_bytes"],
            )
