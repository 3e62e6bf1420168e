"""PostgreSQL inspector: connections, long-running work, lock waits, pg_stat_statements,
sizes, cache hit ratio, vacuum state and replication.

Each section runs in a transaction of its own that starts with ``SET LOCAL statement_timeout``
and ends in a rollback (the reads change nothing, and a rollback also undoes the SET LOCAL
when the caller already holds a transaction and ours is only a savepoint).
``pg_stat_clear_snapshot()`` makes every section see current statistics even then.
Query text is passed through ``sql.normalise``: no literal values, bounded length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, transaction
from psycopg import errors as pg_errors

from helpdesk.monitoring.database import sql
from helpdesk.monitoring.database.base import Inspector, Section, SectionUnavailable

logger = logging.getLogger(__name__)

ENABLE_PG_STAT_STATEMENTS = (
    "set shared_preload_libraries = 'pg_stat_statements' in postgresql.conf, restart "
    "PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in this database"
)


class _Rows:
    """A cursor wrapper returning rows as dicts."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def all(self, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        self._cursor.execute(query, params or [])
        names = [column.name for column in self._cursor.description]
        return [dict(zip(names, row, strict=True)) for row in self._cursor.fetchall()]

    def one(self, query: str, params: list[Any] | None = None) -> dict[str, Any]:
        return self.all(query, params)[0]


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


class PostgreSQLInspector(Inspector):
    """Inspect the PostgreSQL database behind a Django alias."""

    vendor = "postgresql"

    def database_name(self) -> str:
        return str(connections[self.alias].settings_dict["NAME"])

    def sections(self) -> dict[str, Callable[[], Section]]:
        return {
            "connections": self._connections,
            "long_running": self._long_running,
            "locks": self._locks,
            "statements": self._statements,
            "size": self._size,
            "tables": self._tables,
            "vacuum": self._vacuum,
            "cache": self._cache,
            "replication": self._replication,
        }

    @staticmethod
    def _cancelled(error: Exception) -> bool:
        return isinstance(error, pg_errors.QueryCanceled) or isinstance(
            getattr(error, "__cause__", None), pg_errors.QueryCanceled
        )

    def is_outage(self, error: Exception) -> bool:
        return super().is_outage(error) and not self._cancelled(error)

    def _describe(self, error: Exception) -> str:
        if self._cancelled(error):
            return f"timed out after {self.options.statement_timeout_ms} ms"
        return super()._describe(error)

    @contextmanager
    def _transaction(self) -> Iterator[_Rows]:
        with transaction.atomic(using=self.alias):
            with connections[self.alias].cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true), pg_stat_clear_snapshot()",
                    [f"{int(self.options.statement_timeout_ms)}ms"],
                )
                yield _Rows(cursor)
            # Roll back, not commit: also undoes the SET LOCAL when this block is a savepoint.
            transaction.set_rollback(True, using=self.alias)

    def _connections(self) -> Section:
        with self._transaction() as rows:
            server = rows.one(
                "SELECT current_setting('max_connections')::int AS max_connections,"
                " (SELECT count(*) FROM pg_stat_activity"
                "  WHERE backend_type = 'client backend') AS server_total"
            )
            states = rows.all(
                "SELECT coalesce(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity"
                " WHERE datname = current_database() AND backend_type = 'client backend'"
                " GROUP BY 1"
            )
        by_state = {"active": 0, "idle": 0, "idle in transaction": 0}
        by_state.update({row["state"]: row["n"] for row in states})
        maximum = server["max_connections"]
        return {
            "max_connections": maximum,
            "server_total": server["server_total"],
            "utilisation_ratio": round(server["server_total"] / maximum, 4) if maximum else None,
            "database_total": sum(by_state.values()),
            "by_state": by_state,
        }

    def _long_running(self) -> Section:
        threshold = self.options.long_running_seconds
        with self._transaction() as rows:
            found = rows.all(
                "SELECT pid, usename AS user, application_name, state,"
                " extract(epoch FROM clock_timestamp() - query_start) AS query_seconds,"
                " extract(epoch FROM clock_timestamp() - xact_start) AS transaction_seconds,"
                " wait_event_type, query"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend' AND ("
                "  (state = 'active'"
                "   AND clock_timestamp() - query_start > make_interval(secs => %s))"
                "  OR clock_timestamp() - xact_start > make_interval(secs => %s))"
                " ORDER BY least(query_start, xact_start) LIMIT %s",
                [threshold, threshold, self.options.top_n],
            )
        queries, transactions = [], []
        for row in found:
            row["query"] = sql.normalise(row["query"])
            row["query_seconds"] = _seconds(row["query_seconds"])
            row["transaction_seconds"] = _seconds(row["transaction_seconds"])
            if row["state"] == "active" and (row["query_seconds"] or 0) > threshold:
                queries.append(row)
            if (row["transaction_seconds"] or 0) > threshold:
                transactions.append(row)
        return {"threshold_seconds": threshold, "queries": queries, "transactions": transactions}

    def _locks(self) -> Section:
        with self._transaction() as rows:
            waiting = rows.all(
                "SELECT pid, usename AS user, application_name, wait_event,"
                " extract(epoch FROM clock_timestamp() - state_change) AS waiting_seconds,"
                " pg_blocking_pids(pid) AS blocked_by, query"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " ORDER BY state_change LIMIT %s",
                [self.options.top_n],
            )
            blocker_pids = sorted({pid for row in waiting for pid in row["blocked_by"]})
            blockers = rows.all(
                "SELECT pid, usename AS user, application_name, state,"
                " extract(epoch FROM clock_timestamp() - xact_start) AS transaction_seconds, query"
                " FROM pg_stat_activity WHERE pid = ANY(%s) ORDER BY pid",
                [blocker_pids],
            )
        for row in waiting:
            row["query"] = sql.normalise(row["query"])
            row["waiting_seconds"] = _seconds(row["waiting_seconds"])
        for row in blockers:
            row["query"] = sql.normalise(row["query"])
            row["transaction_seconds"] = _seconds(row["transaction_seconds"])
        return {"waiting_count": len(waiting), "waiting": waiting, "blockers": blockers}

    def _statements(self) -> Section:
        with self._transaction() as rows:
            if rows.one("SELECT current_setting('server_version_num')::int AS v")["v"] < 130000:
                raise SectionUnavailable("needs PostgreSQL 13 or later (mean_exec_time)")
            schema = rows.all(
                "SELECT n.nspname FROM pg_extension e"
                " JOIN pg_namespace n ON n.oid = e.extnamespace"
                " WHERE e.extname = 'pg_stat_statements'"
            )
        if not schema:
            return {
                "status": "unavailable: pg_stat_statements is not installed",
                "how_to_enable": ENABLE_PG_STAT_STATEMENTS,
            }
        view = '"' + schema[0]["nspname"].replace('"', '""') + '".pg_stat_statements'
        columns = (
            "queryid::text AS queryid, calls, rows,"
            " total_exec_time / 1000 AS total_seconds, mean_exec_time / 1000 AS mean_seconds,"
            " query"
        )
        where = "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        try:
            with self._transaction() as rows:
                by_mean = rows.all(
                    f"SELECT {columns} FROM {view} WHERE {where}"  # noqa: S608 - quoted schema
                    " ORDER BY mean_exec_time DESC LIMIT %s",
                    [self.options.top_n],
                )
                by_total = rows.all(
                    f"SELECT {columns} FROM {view} WHERE {where}"  # noqa: S608 - quoted schema
                    " ORDER BY total_exec_time DESC LIMIT %s",
                    [self.options.top_n],
                )
        except Exception as error:
            if isinstance(error.__cause__, pg_errors.ObjectNotInPrerequisiteState):
                return {
                    "status": "unavailable: pg_stat_statements is not loaded "
                    "(shared_preload_libraries)",
                    "how_to_enable": ENABLE_PG_STAT_STATEMENTS,
                }
            raise
        for row in (*by_mean, *by_total):
            row["query"] = sql.normalise(row["query"])
            row["total_seconds"] = round(float(row["total_seconds"]), 6)
            row["mean_seconds"] = round(float(row["mean_seconds"]), 6)
        return {"top_by_mean": by_mean, "top_by_total": by_total}

    def _size(self) -> Section:
        with self._transaction() as rows:
            return {"bytes": rows.one("SELECT pg_database_size(current_database()) AS b")["b"]}

    _USER_TABLES = (
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'm', 'p')"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'"
    )

    def _tables(self) -> Section:
        with self._transaction() as rows:
            count = rows.one("SELECT count(*) AS n" + self._USER_TABLES)["n"]
            top = rows.all(
                "SELECT CASE WHEN n.nspname = 'public' THEN c.relname"
                " ELSE n.nspname || '.' || c.relname END AS name,"
                " pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes,"
                " pg_total_relation_size(c.oid) AS total_bytes"
                + self._USER_TABLES
                + " ORDER BY total_bytes DESC, name LIMIT %s",
                [self.options.top_n],
            )
        return {"count": count, "top": top}

    def _vacuum(self) -> Section:
        with self._transaction() as rows:
            top = rows.all(
                "SELECT CASE WHEN schemaname = 'public' THEN relname"
                " ELSE schemaname || '.' || relname END AS name,"
                " n_live_tup AS live_tuples, n_dead_tup AS dead_tuples,"
                " last_autovacuum, last_vacuum, last_autoanalyze"
                " FROM pg_stat_user_tables ORDER BY n_dead_tup DESC, relname LIMIT %s",
                [self.options.top_n],
            )
            total = rows.one(
                "SELECT coalesce(sum(n_dead_tup), 0)::bigint AS n FROM pg_stat_user_tables"
            )["n"]
        for row in top:
            for key in ("last_autovacuum", "last_vacuum", "last_autoanalyze"):
                row[key] = row[key].isoformat() if row[key] else None
        return {"dead_tuples_total": total, "top": top}

    def _cache(self) -> Section:
        with self._transaction() as rows:
            row = rows.one(
                "SELECT blks_hit AS hit, blks_read AS read FROM pg_stat_database"
                " WHERE datname = current_database()"
            )
        touched = row["hit"] + row["read"]
        return {
            "blocks_hit": row["hit"],
            "blocks_read": row["read"],
            "hit_ratio": round(row["hit"] / touched, 6) if touched else None,
        }

    def _replication(self) -> Section:
        with self._transaction() as rows:
            if rows.one("SELECT pg_is_in_recovery() AS r")["r"]:
                lag = rows.one(
                    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
                    " THEN 0 ELSE"
                    " extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
                    " END AS lag,"
                    " pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
                    " AS replay_bytes"
                )
                return {
                    "role": "replica",
                    "lag_seconds": _seconds(lag["lag"]),
                    "replay_lag_bytes": None
                    if lag["replay_bytes"] is None
                    else int(lag["replay_bytes"]),
                }
            replicas = rows.all(
                "SELECT application_name, state, sync_state,"
                " extract(epoch FROM replay_lag) AS replay_lag_seconds"
                " FROM pg_stat_replication ORDER BY application_name"
            )
        for row in replicas:
            row["replay_lag_seconds"] = _seconds(row["replay_lag_seconds"])
        return {"role": "primary", "replicas": replicas}
