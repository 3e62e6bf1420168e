"""The PostgreSQL inspector against the real server (DATABASE_URL at PostgreSQL)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection

from helpdesk.monitoring.database.base import InspectorOptions
from helpdesk.monitoring.database.postgresql import PostgreSQLInspector
from tests.services import unavailable, wait_until

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture(autouse=True)
def _postgresql(db: None) -> None:
    if connection.vendor != "postgresql":
        unavailable("DATABASE_URL does not point at PostgreSQL")


def connect(autocommit: bool = True) -> psycopg.Connection[Any]:
    """Open a separate session to the test database."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    return psycopg.connect(**params, autocommit=autocommit)


@pytest.fixture
def sessions() -> Iterator[Callable[[], psycopg.Connection[Any]]]:
    opened: list[psycopg.Connection[Any]] = []

    def open_session() -> psycopg.Connection[Any]:
        opened.append(connect())
        return opened[-1]

    yield open_session
    for session in opened:
        session.cancel_safe() if hasattr(session, "cancel_safe") else session.cancel()
        session.close()


def inspect(section: str, **options: Any) -> dict[str, Any]:
    inspector = PostgreSQLInspector("default", InspectorOptions.from_settings(**options))
    return inspector.inspect()[section]


def in_background(session: psycopg.Connection[Any], query: str) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(psycopg.Error):  # cancelled at teardown
            session.execute(query)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_it_counts_connections_by_state(sessions: Any) -> None:
    before = inspect("connections")
    assert before["status"] == "ok"
    assert before["by_state"]["active"] >= 1  # the inspecting session itself
    for _ in range(3):
        sessions()
    after = inspect("connections")
    assert after["database_total"] == before["database_total"] + 3
    assert after["by_state"]["idle"] == before["by_state"]["idle"] + 3
    assert after["server_total"] >= before["server_total"] + 3
    assert 0 < after["utilisation_ratio"] <= 1
    assert after["max_connections"] >= 10


def test_it_shows_a_waiting_session_with_its_blocker(sessions: Any) -> None:
    holder, waiter = sessions(), sessions()
    holder.execute("SELECT pg_advisory_lock(606060)")
    in_background(waiter, "SELECT pg_advisory_lock(606060)")
    locks = wait_until(
        lambda: (s := inspect("locks"))["waiting_count"] and s, timeout=10, interval=0.1
    )
    assert locks["status"] == "ok"
    waiting = locks["waiting"][0]
    assert waiting["pid"] == waiter.info.backend_pid
    assert waiting["blocked_by"] == [holder.info.backend_pid]
    assert waiting["query"] == "SELECT pg_advisory_lock(?)"
    assert [b["pid"] for b in locks["blockers"]] == [holder.info.backend_pid]
    holder.execute("SELECT pg_advisory_unlock(606060)")


def test_it_shows_a_long_running_query_without_its_literals(sessions: Any) -> None:
    sleeper = sessions()
    in_background(sleeper, "SELECT pg_sleep(30), 'secret-value'")

    def found() -> Any:
        queries = inspect("long_running", long_running_seconds=0.5)["queries"]
        return [q for q in queries if q["pid"] == sleeper.info.backend_pid]

    (query,) = wait_until(found, timeout=10, interval=0.1)
    assert query["query"] == "SELECT pg_sleep(?), ?"
    assert query["query_seconds"] > 0.5
    assert inspect("long_running", long_running_seconds=3600)["queries"] == []


def test_it_shows_a_long_open_transaction(sessions: Any) -> None:
    idle = sessions()
    idle.execute("BEGIN")
    idle.execute("SELECT 1")

    def found() -> Any:
        rows = inspect("long_running", long_running_seconds=0.2)["transactions"]
        return [row for row in rows if row["pid"] == idle.info.backend_pid]

    (row,) = wait_until(found, timeout=10, interval=0.1)
    assert row["state"] == "idle in transaction"


def test_it_bounds_each_section_with_a_statement_timeout() -> None:
    class Slow(PostgreSQLInspector):
        def sections(self) -> Any:
            return {"slow": self._slow}

        def _slow(self) -> dict[str, Any]:
            with self._transaction() as rows:
                rows.all("SELECT pg_sleep(5)")
            return {}

    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        (original,) = cursor.fetchone()
    started = time.monotonic()
    report = Slow("default", InspectorOptions.from_settings(statement_timeout_ms=100)).inspect()
    assert report["slow"]["status"] == "error: timed out after 100 ms"
    assert time.monotonic() - started < 4
    with connection.cursor() as cursor:
        # The caller's transaction is usable and its own timeout is unchanged.
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == (original,)


def test_it_says_pg_stat_statements_is_unavailable_when_not_installed() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if cursor.fetchone()[0]:
            pytest.skip("pg_stat_statements is installed in the test database")
    statements = inspect("statements")
    assert statements["status"] == "unavailable: pg_stat_statements is not installed"
    assert "shared_preload_libraries" in statements["how_to_enable"]
    assert "CREATE EXTENSION pg_stat_statements" in statements["how_to_enable"]


def test_it_reports_sizes_cache_vacuum_and_role() -> None:
    report = PostgreSQLInspector("default", InspectorOptions.from_settings(top_n=3)).inspect()
    assert report["size"]["bytes"] > 1_000_000
    tables = report["tables"]
    assert tables["count"] >= 10
    assert len(tables["top"]) == 3
    sizes = [row["total_bytes"] for row in tables["top"]]
    assert sizes == sorted(sizes, reverse=True)
    for row in tables["top"]:
        assert row["total_bytes"] >= row["table_bytes"]
    assert report["vacuum"]["status"] == "ok"
    assert {"dead_tuples", "last_autovacuum"} <= set(report["vacuum"]["top"][0])
    assert 0 <= report["cache"]["hit_ratio"] <= 1
    assert report["replication"] == {"status": "ok", "role": "primary", "replicas": []}
