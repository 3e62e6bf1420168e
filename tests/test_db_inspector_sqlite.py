"""The SQLite inspector on a real database file."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpdesk.monitoring.database.base import InspectorOptions
from helpdesk.monitoring.database.sqlite import SQLiteInspector
from tests.dbprobe import django_alias


@pytest.fixture(autouse=True)
def _own_connections(django_db_blocker: Any) -> Iterator[None]:
    # These tests open their own SQLite files; the project database is not used.
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "probe.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, body TEXT)")
    db.execute("CREATE INDEX big_body ON big (body)")
    db.execute("CREATE TABLE small (id INTEGER PRIMARY KEY)")
    db.executemany("INSERT INTO big (body) VALUES (?)", [("x" * 500,) for _ in range(2000)])
    db.execute("INSERT INTO small DEFAULT VALUES")
    db.commit()
    db.execute("DELETE FROM big WHERE id > 1000")
    db.commit()
    db.close()
    return path


def inspect(path: Path, **options: Any) -> dict[str, Any]:
    sqlite_engine = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), "OPTIONS": {}}
    with django_alias("sqlite_probe", **sqlite_engine) as alias:
        return SQLiteInspector(alias, InspectorOptions.from_settings(**options)).inspect()


def test_it_reports_file_and_page_figures(sqlite_file: Path) -> None:
    report = inspect(sqlite_file)
    file = report["file"]
    assert file["status"] == "ok"
    assert file["path"] == str(sqlite_file)
    assert file["file_bytes"] == os.path.getsize(sqlite_file)
    assert file["size_bytes"] == file["page_size_bytes"] * file["page_count"] == file["file_bytes"]
    assert file["freelist_pages"] > 0  # the deleted half of "big" went to the freelist
    assert file["journal_mode"] == "delete"


def test_it_ranks_tables_by_size_with_their_indexes(sqlite_file: Path) -> None:
    tables = inspect(sqlite_file)["tables"]
    assert tables["status"] == "ok"
    assert tables["method"] == "dbstat"
    assert tables["count"] == 2
    first, second = tables["top"]
    assert first["name"] == "big"
    assert first["index_bytes"] > 0
    assert first["total_bytes"] == first["table_bytes"] + first["index_bytes"]
    assert second["name"] == "small"


def test_it_interrupts_a_read_past_the_deadline(sqlite_file: Path) -> None:
    class Endless(SQLiteInspector):
        def sections(self) -> Any:
            return {"endless": self._endless}

        def _endless(self) -> dict[str, Any]:
            with self._cursor() as cursor:
                cursor.execute(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
                    " SELECT count(*) FROM c"
                ).fetchone()
            return {}

    sqlite_engine = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(sqlite_file),
        "OPTIONS": {},
    }
    with django_alias("sqlite_probe", **sqlite_engine) as alias:
        started = time.monotonic()
        report = Endless(alias, InspectorOptions.from_settings(statement_timeout_ms=100)).inspect()
    assert report["endless"]["status"] == "error: OperationalError"
    assert time.monotonic() - started < 10


def test_it_says_unavailable_for_an_empty_database(tmp_path: Path) -> None:
    report = inspect(tmp_path / "empty.sqlite3")
    assert report["tables"]["status"] == "unavailable: the database has no tables"


def test_it_counts_rows_when_dbstat_cannot_be_read(sqlite_file: Path) -> None:
    # A table named dbstat shadows the virtual table, as on a build without it: the query
    # for page sizes fails and the inspector falls back to row counts.
    db = sqlite3.connect(sqlite_file)
    db.execute("CREATE TABLE dbstat (x)")
    db.commit()
    db.close()
    tables = inspect(sqlite_file)["tables"]
    assert tables["status"] == "ok"
    assert tables["method"] == "row_count"
    assert tables["top"][0] == {"name": "big", "rows": 1000}
