"""A scratch database shared with `helpdesk` subprocesses (workers, scripts).

``database`` yields (DATABASE_URL, query function): a SQLite file, or with DATABASE_URL at
PostgreSQL a scratch PostgreSQL database made for the test and dropped after it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: Any, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (DATABASE_URL, a function running SQL and returning rows) for a scratch database."""
    if request.param == "sqlite":
        path = tmp_path / "outbox.sqlite3"

        def query_sqlite(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path, timeout=20) as conn:
                return conn.execute(sql).fetchall()

        yield f"sqlite:///{path}", query_sqlite
        return
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("DATABASE_URL does not point at PostgreSQL")
    import psycopg

    base, _, name = url.rpartition("/")
    scratch = f"{name}_outbox_e2e"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        admin.execute(f'CREATE DATABASE "{scratch}"')
    scratch_url = f"{base}/{scratch}"

    def query_pg(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(scratch_url) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

    try:
        yield scratch_url, query_pg
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _helpdesk() -> str:
    return str(Path(sys.executable).with_name("helpdesk"))


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERT", "EMAIL"))}
    env.update(
        DATABASE_URL=database_url,
        HELPDESK_DATA_DIR=str(tmp_path / "data"),
        HELPDESK_ENV="test",
        OUTBOUND_ALLOW_PRIVATE_IPS="1",
        LOG_LEVEL="WARNING",
        ALERT_DELIVERY_BACKOFF_SECONDS="0.05",
        ALERT_DELIVERY_BACKOFF_MAX_SECONDS="0.5",
        ALERT_DELIVERY_MAX_ATTEMPTS="40",
        ALERT_DELIVERY_LEASE_SECONDS="5",
        WORKER_DELIVERY_INTERVAL_SECONDS="0.2",
    )
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [_helpdesk(), *args], check=False, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
