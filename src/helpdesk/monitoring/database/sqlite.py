"""SQLite inspector: file and page figures, table sizes, journal mode.

SQLite has no statement timeout, so a deadline is enforced with the connection's progress
handler: a read that runs past ``statement_timeout_ms`` is interrupted (``sqlite3`` raises
OperationalError "interrupted"), which bounds a row count on a huge table.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections

from helpdesk.monitoring.database.base import Inspector, Section, SectionUnavailable

logger = logging.getLogger(__name__)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteInspector(Inspector):
    """Inspect the SQLite database behind a Django alias."""

    vendor = "sqlite"

    def database_name(self) -> str:
        return str(connections[self.alias].settings_dict["NAME"])

    def sections(self) -> dict[str, Callable[[], Section]]:
        return {"file": self._file, "tables": self._tables}

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        connection = connections[self.alias]
        connection.ensure_connection()
        raw: sqlite3.Connection = connection.connection
        deadline = time.monotonic() + self.options.statement_timeout_ms / 1000

        def past_deadline() -> int:
            return 1 if time.monotonic() > deadline else 0

        raw.set_progress_handler(past_deadline, 1000)
        cursor = raw.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
            raw.set_progress_handler(None, 0)

    def _path(self) -> str | None:
        with self._cursor() as cursor:
            for _seq, name, path in cursor.execute("PRAGMA database_list").fetchall():
                if name == "main":
                    return str(path) or None  # "" for an in-memory database
        return None

    def _file(self) -> Section:
        with self._cursor() as cursor:
            page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
            page_count = cursor.execute("PRAGMA page_count").fetchone()[0]
            freelist = cursor.execute("PRAGMA freelist_count").fetchone()[0]
            journal_mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        path = self._path()
        file_bytes = wal_bytes = None
        if path and os.path.exists(path):
            file_bytes = os.path.getsize(path)
            wal = path + "-wal"
            wal_bytes = os.path.getsize(wal) if os.path.exists(wal) else 0
        return {
            "path": path,
            "file_bytes": file_bytes,
            "wal_bytes": wal_bytes,
            "page_size_bytes": page_size,
            "page_count": page_count,
            "size_bytes": page_size * page_count,
            "freelist_pages": freelist,
            "freelist_bytes": page_size * freelist,
            "journal_mode": journal_mode,
        }

    def _tables(self) -> Section:
        with self._cursor() as cursor:
            objects = cursor.execute(
                "SELECT name, type, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
            ).fetchall()
            owner = {name: table for name, kind, table in objects}
            tables = {
                name: {"name": name, "table_bytes": 0, "index_bytes": 0, "total_bytes": 0}
                for name, kind, _ in objects
                if kind == "table" and not name.startswith("sqlite_")
            }
            if not tables:
                raise SectionUnavailable("the database has no tables")
            try:
                sizes = cursor.execute(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"
                ).fetchall()
                method = "dbstat"
            except sqlite3.OperationalError as error:
                if "interrupted" in str(error):
                    raise
                # dbstat is a compile-time option (SQLITE_ENABLE_DBSTAT_VTAB): count rows.
                sizes = []
                method = "row_count"
            for name, size in sizes:
                entry = tables.get(owner.get(name, name))
                if entry is None:
                    continue
                entry["table_bytes" if name in tables else "index_bytes"] += size or 0
                entry["total_bytes"] += size or 0
            if method == "row_count":
                for name, entry in tables.items():
                    query = f"SELECT count(*) FROM {_quote(name)}"  # noqa: S608 - quoted identifier
                    entry["rows"] = cursor.execute(query).fetchone()[0]
                    del entry["table_bytes"], entry["index_bytes"], entry["total_bytes"]
        key = "total_bytes" if method == "dbstat" else "rows"
        ranked = sorted(tables.values(), key=lambda entry: entry[key], reverse=True)
        return {"method": method, "count": len(tables), "top": ranked[: self.options.top_n]}
