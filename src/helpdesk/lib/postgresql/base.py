"""Django's PostgreSQL backend with every wait on the server bounded.

settings.py selects this backend for ``postgres://`` URLs and gives the connection its
``connect_timeout``, a server-side ``statement_timeout``, TCP keepalives and
``tcp_user_timeout`` (docs/configuration.md). Those cover a slow query and a vanished peer, not
a server that accepts bytes and never answers; for that this backend adds a client-side
deadline (``watchdog``):

- every query, commit and rollback waits at most ``DB_STATEMENT_TIMEOUT_MS`` plus
  ``DB_CONNECT_TIMEOUT`` (a live server cancels the query itself before that);
- the health check Django runs on a reused connection (``SELECT 1``) waits at most
  ``DB_CONNECT_TIMEOUT``;
- after a connect or wait timeout the server counts as unavailable for
  ``DB_UNAVAILABLE_SECONDS``: waits in flight on it are cut, and queries and new connections
  fail at once (OperationalError), so requests answer 503 instead of each holding a thread
  for a timeout.

``migrate`` lifts both statement bounds for its connection: building an index on a large table
may take long, and an operator is watching.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import OperationalError, connections
from django.db.backends.postgresql import base
from django.db.models.signals import pre_migrate

from helpdesk.lib.postgresql.watchdog import watchdog

logger = logging.getLogger(__name__)


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL wrapper whose waits on the server are bounded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        statement_ms = int(settings.DB_STATEMENT_TIMEOUT_MS)
        connect = float(settings.DB_CONNECT_TIMEOUT)
        # None: no client-side deadline on queries (DB_STATEMENT_TIMEOUT_MS=0, or migrate).
        self.statement_deadline = statement_ms / 1000 + connect if statement_ms else None
        self.query_deadline = self.statement_deadline
        self.ping_deadline = connect
        self.retry_seconds = float(settings.DB_UNAVAILABLE_SECONDS)
        self.execute_wrappers.append(self._bounded_execute)
        pre_migrate.connect(_unbounded_for_migrate, dispatch_uid="helpdesk.postgresql.migrate")

    @contextmanager
    def _bounded(self, seconds: float | None) -> Iterator[None]:
        why = self._unavailable() if seconds is not None else ""
        if why:
            # A wait on this server timed out moments ago (maybe in another thread): an open
            # connection would wait for the same silence.
            self.errors_occurred = True
            raise OperationalError(why)
        try:
            fd = None if seconds is None or self.connection is None else self.connection.fileno()
        except self.Database.Error:  # a broken connection: the call fails at once anyway
            fd = None
        if fd is None or seconds is None:
            yield
            return
        with watchdog.guard(self.alias, fd, seconds, self.retry_seconds):
            yield

    def _unavailable(self) -> str:
        """Return why the server counts as unavailable now, or '' to go ahead."""
        seconds = watchdog.unavailable_for(self.alias)
        if not seconds:
            return ""
        return f"database unavailable after a timeout, retrying in {seconds:.0f} s"

    def _bounded_execute(
        self, execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: Any
    ) -> Any:
        with self._bounded(self.query_deadline):
            return execute(sql, params, many, context)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        why = self._unavailable()
        if why:
            raise self.Database.OperationalError(why)
        try:
            connection = super().get_new_connection(conn_params)
        except self.Database.errors.ConnectionTimeout:
            watchdog.timed_out(self.alias, self.retry_seconds)
            raise
        self.query_deadline = self.statement_deadline  # a new session: migrate's lift is gone
        return connection

    def is_usable(self) -> bool:
        try:
            with self._bounded(self.ping_deadline):
                return bool(super().is_usable())
        except OperationalError:
            return False  # counts as unavailable: Django closes it, reconnecting fails at once

    def commit(self) -> None:
        with self._bounded(self.query_deadline):
            super().commit()

    def rollback(self) -> None:
        with self._bounded(self.query_deadline):
            super().rollback()


def _unbounded_for_migrate(using: str = "default", **_: Any) -> None:
    """Lift the statement bounds of the session ``migrate`` uses (see the docstring)."""
    connection = connections[using]
    if isinstance(connection, DatabaseWrapper) and connection.query_deadline is not None:
        connection.query_deadline = None
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
