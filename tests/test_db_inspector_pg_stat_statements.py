"""pg_stat_statements and replication, on PostgreSQL 15 instances this test starts itself.

The shared server is not restarted with shared_preload_libraries, so the test runs a private
server (tests/pgserver.py) on a port in 5560-5569.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from helpdesk.monitoring.database.base import InspectorOptions
from helpdesk.monitoring.database.management.commands.db_stats import render
from helpdesk.monitoring.database.postgresql import PostgreSQLInspector
from tests.dbprobe import django_alias
from tests.pgserver import BINDIR, as_postgres, private_postgresql
from tests.services import port_open, unavailable

pytestmark = pytest.mark.services

PORTS = range(5560, 5570)


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    # The replica test takes the next port.
    port = next(
        (
            p
            for p in PORTS[:-1]
            if not port_open("127.0.0.1", p) and not port_open("127.0.0.1", p + 1)
        ),
        None,
    )
    if port is None:
        unavailable("no free port in 5560-5569")
    preload = "-c shared_preload_libraries=pg_stat_statements"
    with private_postgresql(port, preload) as pg:
        yield {
            "HOST": "127.0.0.1",
            "PORT": port,
            "NAME": "postgres",
            "USER": "postgres",
            "folder": pg.folder,
            "data": pg.data,
        }


@pytest.fixture
def alias(server: dict[str, Any], django_db_blocker: Any) -> Iterator[str]:
    pg = {"ENGINE": "django.db.backends.postgresql", "PASSWORD": "", "OPTIONS": {}}
    target = {key: server[key] for key in ("HOST", "PORT", "NAME", "USER")}
    with django_db_blocker.unblock(), django_alias("pgss", **pg, **target) as name:
        yield name


def session(server: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=server["HOST"],
        port=server["PORT"],
        dbname="postgres",
        user="postgres",
        autocommit=True,
    )


def test_it_ranks_a_slow_statement_first(server: dict[str, Any], alias: str) -> None:
    with session(server) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        db.execute("SELECT pg_stat_statements_reset()")
        for _ in range(3):
            db.execute("SELECT pg_sleep(0.2), 'hidden literal'")
        for _ in range(50):
            db.execute("SELECT 1 + 1")
    report = PostgreSQLInspector(alias, InspectorOptions.from_settings(top_n=5)).inspect()
    statements = report["statements"]
    text = render(report)  # a database without tables renders too
    assert "select pg_sleep($1), $2".lower() in text.lower()
    assert "0 tables" in text
    assert statements["status"] == "ok"
    slowest = statements["top_by_mean"][0]
    assert slowest["query"] == "SELECT pg_sleep($1), $2"
    assert slowest["calls"] == 3
    assert slowest["mean_seconds"] >= 0.2
    assert slowest["total_seconds"] >= 0.6
    assert statements["top_by_total"][0]["query"] == slowest["query"]
    assert len(statements["top_by_mean"]) <= 5


def test_it_says_unavailable_before_create_extension(server: dict[str, Any], alias: str) -> None:
    with session(server) as db:
        db.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    try:
        statements = PostgreSQLInspector(alias).inspect()["statements"]
        assert statements["status"] == "unavailable: pg_stat_statements is not installed"
    finally:
        with session(server) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def test_it_reports_replication_lag_on_a_replica(
    server: dict[str, Any], alias: str, django_db_blocker: Any
) -> None:
    folder: Path = server["folder"]
    replica = folder / "replica"
    port = server["PORT"] + 1
    subprocess.run(
        as_postgres(
            [
                str(BINDIR / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(server["PORT"]),
                "-U",
                "postgres",
                "-D",
                str(replica),
                "-R",
                "-X",
                "stream",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    subprocess.run(
        as_postgres(
            [
                str(BINDIR / "pg_ctl"),
                "-D",
                str(replica),
                "-o",
                options,
                "-l",
                str(folder / "replica.log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        with session(server) as db:
            db.execute("CREATE TABLE IF NOT EXISTS replicated (id int)")
            db.execute("INSERT INTO replicated VALUES (1)")
        primary = PostgreSQLInspector(alias).inspect()["replication"]
        assert primary["role"] == "primary"
        assert [r["state"] for r in primary["replicas"]] == ["streaming"]
        pg = {"ENGINE": "django.db.backends.postgresql", "PASSWORD": "", "OPTIONS": {}}
        target = {"HOST": "127.0.0.1", "PORT": port, "NAME": "postgres", "USER": "postgres"}
        with django_db_blocker.unblock(), django_alias("replica", **pg, **target) as name:
            report = PostgreSQLInspector(name).inspect()
        replication = report["replication"]
        assert replication["status"] == "ok"
        assert replication["role"] == "replica"
        assert replication["lag_seconds"] is not None
        assert replication["lag_seconds"] >= 0
        assert replication["replay_lag_bytes"] >= 0
    finally:
        subprocess.run(
            as_postgres([str(BINDIR / "pg_ctl"), "-D", str(replica), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )


def test_it_says_not_loaded_without_shared_preload_libraries(
    server: dict[str, Any], alias: str
) -> None:
    # Last in this module: it restarts the private server without the library.
    with session(server) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    options = f"-p {server['PORT']} -k {server['folder']} -c listen_addresses=127.0.0.1"
    subprocess.run(
        as_postgres(
            [
                str(BINDIR / "pg_ctl"),
                "-D",
                str(server["data"]),
                "-o",
                options,
                "-m",
                "fast",
                "-l",
                str(server["folder"] / "log"),
                "-w",
                "restart",
            ]
        ),
        check=True,
        capture_output=True,
    )
    statements = PostgreSQLInspector(alias).inspect()["statements"]
    assert statements["status"] == (
        "unavailable: pg_stat_statements is not loaded (shared_preload_libraries)"
    )
    assert "shared_preload_libraries" in statements["how_to_enable"]
