"""The PostgreSQL backend's bounds, against the suite's PostgreSQL and a blackhole server.

The outage tests under the real web server (test_outage_database.py) show the whole path;
these show each bound on its own: the session's statement_timeout and TCP options, migrate
lifting the statement bound, and a connect timeout making the next connections fail at once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, connections

from tests.dbprobe import django_alias
from tests.services import unavailable
from tests.tcp import Blackhole

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    if connection.vendor != "postgresql":
        unavailable("DATABASE_URL does not point at PostgreSQL")


def _show(name: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def test_it_bounds_statements_and_watches_the_tcp_connection() -> None:
    connection.close()
    assert _show("statement_timeout") == "10s"
    dsn = connection.connection.info.dsn
    for option in ("keepalives=1", "keepalives_idle=10", "tcp_user_timeout=10000"):
        assert option in dsn
    assert "connect_timeout=3" in dsn


def test_it_lifts_the_statement_bound_for_migrate_only() -> None:
    connection.close()
    call_command("migrate", verbosity=0)
    assert _show("statement_timeout") == "0"
    assert connection.query_deadline is None
    connection.close()  # the next session is bounded again
    assert _show("statement_timeout") == "10s"
    assert connection.query_deadline is not None


def test_it_fails_fast_after_a_connect_timeout(django_db_blocker: Any) -> None:
    with (
        Blackhole() as hole,
        django_db_blocker.unblock(),
        django_alias("hole", HOST="127.0.0.1", PORT=hole.port) as alias,
    ):
        started = time.monotonic()
        with pytest.raises(OperationalError):
            connections[alias].ensure_connection()
        first = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database unavailable"):
            connections[alias].ensure_connection()
        second = time.monotonic() - started
    assert 1 <= first < 10  # the connect timeout (3 s), not forever
    assert second < 1  # no second wait while the server counts as unavailable
