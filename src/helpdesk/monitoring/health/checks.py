"""The ``HealthCheck`` base, its three exceptions, and the built-in checks.

A check implements ``run()``: it returns the observed value (a response time in ms, a count,
a percentage) or raises one of the exceptions below. Exception messages are shown to
authorized callers, so they must be short, fixed phrases that hold no secrets: never the text
of a driver's exception (it may carry a DSN, a host or a password). The runner turns any other
exception into "unexpected error" and logs the detail.

Each check bounds its own client waits (connect and socket timeouts, a statement timeout) to
its deadline so that a thread the runner stopped waiting for still ends soon after.
"""

from __future__ import annotations

import abc
import logging
import math
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connections
from django.utils.module_loading import import_string

from helpdesk.lib.postgresql.watchdog import watchdog
from helpdesk.monitoring.system.monitor import disk_usage

logger = logging.getLogger(__name__)

Value = float | int | None


class HealthCheckError(Exception):
    """A check did not pass; ``message`` is shown to authorized callers (no secrets)."""

    status: ClassVar[str] = "fail"

    def __init__(self, message: str, observed_value: Value = None) -> None:
        super().__init__(message)
        self.message = message
        self.observed_value = observed_value


class ServiceWarning(HealthCheckError):
    """The service works but needs attention (disk filling up, stale worker)."""

    status = "warn"


class ServiceUnavailable(HealthCheckError):
    """The service cannot be reached or refuses to work."""


class ServiceReturnedUnexpectedResult(HealthCheckError):
    """The service answered, but not what the check expected."""


class HealthCheck(abc.ABC):
    """One dependency probe.

    ``name`` labels metrics and logs; the report keys it ``component:measurement`` (draft
    api-health-check). ``critical`` checks fail readiness; the others only warn. ``deadline``
    (seconds) overrides the runner's default for this check.
    """

    name: ClassVar[str]
    component: ClassVar[str]
    measurement: ClassVar[str]
    component_type: ClassVar[str] = "component"
    unit: ClassVar[str | None] = None

    def __init__(self, *, critical: bool = True, deadline: float | None = None) -> None:
        self.critical = critical
        self.deadline = deadline or float(settings.HEALTH_DEADLINE_SECONDS)

    @property
    def key(self) -> str:
        return f"{self.component}:{self.measurement}"

    @abc.abstractmethod
    def run(self) -> Value:
        """Probe the dependency; return the observed value or raise ``HealthCheckError``.

        Messages of raised exceptions must not contain sensitive information.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class DatastoreCheck(HealthCheck):
    """A check of one configured database or cache ``alias``; by default its response time."""

    measurement = "responseTime"
    component_type = "datastore"
    unit: ClassVar[str | None] = "ms"

    def __init__(self, alias: str = "default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alias = alias


class DatabaseCheck(DatastoreCheck):
    """``SELECT 1`` on the database, bounded by a connect and a statement timeout.

    PostgreSQL is probed on a new short-lived connection built from the alias's settings with
    ``connect_timeout`` and ``statement_timeout`` set from the deadline, so a hung server never
    leaves a request thread's (pooled) connection blocked. While the app's own connections
    count the server as unavailable after a timeout (``helpdesk.lib.postgresql``), the check
    fails at once: requests answer 503 then, and the probe would only wait for the same
    silence. Other engines (SQLite) use the alias's connection in the probe thread; the runner
    closes it afterwards.
    """

    name = "database"
    component = "database"

    def connection_settings(self) -> dict[str, Any]:
        """Return the alias's settings (ENGINE, NAME, USER, PASSWORD, HOST, PORT, OPTIONS)."""
        return dict(connections[self.alias].settings_dict)

    def run(self) -> Value:
        config = self.connection_settings()
        started = time.perf_counter()
        if connections[self.alias].vendor == "postgresql":
            if watchdog.unavailable_for(self.alias):
                raise ServiceUnavailable("timed out moments ago")
            self._probe_postgresql(config)
        else:
            try:
                with connections[self.alias].cursor() as cursor:
                    cursor.execute("SELECT 1")
                    row = cursor.fetchone()
            except DatabaseError as error:
                raise ServiceUnavailable("database unavailable") from error
            if row is None or row[0] != 1:
                raise ServiceReturnedUnexpectedResult("SELECT 1 returned something else")
        return _elapsed_ms(started)

    def _probe_postgresql(self, config: dict[str, Any]) -> None:
        import psycopg

        options = dict(config.get("OPTIONS") or {})
        params: dict[str, Any] = {
            key: value
            for key, value in options.items()
            if key in {"sslmode", "sslrootcert", "sslcert", "sslkey", "service", "passfile"}
        }
        params.update(
            dbname=config.get("NAME") or None,
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            host=config.get("HOST") or None,
            port=config.get("PORT") or None,
            connect_timeout=max(1, math.ceil(self.deadline)),
            options=f"-c statement_timeout={max(1, int(self.deadline * 1000))}",
            application_name="helpdesk-health",
            autocommit=True,
        )
        try:
            with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as db:
                row = db.execute("SELECT 1").fetchone()
        except psycopg.Error as error:
            raise ServiceUnavailable(_postgresql_message(error)) from error
        if row is None or row[0] != 1:
            raise ServiceReturnedUnexpectedResult("SELECT 1 returned something else")


# SQLSTATE → a fixed phrase; the driver's own text may name the host, user or database.
_SQLSTATE_MESSAGES = {
    "57014": "statement timeout",
    "28P01": "authentication failed",
    "28000": "authentication failed",
    "3D000": "database does not exist",
    "53300": "too many connections",
    "57P03": "database is starting up or shutting down",
}


def _postgresql_message(error: Exception) -> str:
    import psycopg

    if isinstance(error, psycopg.errors.ConnectionTimeout):
        return "connection timeout"
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate in _SQLSTATE_MESSAGES:
        return _SQLSTATE_MESSAGES[sqlstate]
    if "refused" in str(error).lower():
        return "connection refused"
    return "database unavailable"


class MigrationsCheck(DatastoreCheck):
    """Fail while migrations of the installed apps are not applied to the database.

    Once the plan is empty the answer is kept for the life of the process: migrations are
    applied before new code starts and never un-applied under a running process.
    """

    name = "migrations"
    component = "migrations"
    measurement = "pending"
    unit = None

    _applied: ClassVar[set[str]] = set()

    def run(self) -> Value:
        if self.alias in self._applied:
            return 0
        from django.db.migrations.executor import MigrationExecutor

        try:
            executor = MigrationExecutor(connections[self.alias])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as error:
            raise ServiceUnavailable("database unavailable") from error
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migrations not applied", len(plan))
        self._applied.add(self.alias)
        return 0


class CacheCheck(DatastoreCheck):
    """A set/get/delete round trip on the configured cache.

    For Django's Redis backend or a subclass (the app's instrumented one) a dedicated client is
    built from the cache's location with socket and connect timeouts equal to the deadline, so
    an outage reads "connection refused" or a timeout; other backends go through the cache.
    """

    name = "cache"
    component = "cache"
    _redis: Any = None

    def _redis_client(self) -> Any:
        if self._redis is None:
            import redis

            location: Any = settings.CACHES[self.alias]["LOCATION"]
            url = location[0] if isinstance(location, list | tuple) else location.split(",")[0]
            self._redis = redis.Redis.from_url(
                url,
                socket_timeout=self.deadline,
                socket_connect_timeout=self.deadline,
                retry_on_timeout=False,
            )
        return self._redis

    def run(self) -> Value:
        config = settings.CACHES[self.alias]
        key = f"{config.get('KEY_PREFIX') or 'helpdesk'}:health:{uuid.uuid4().hex}"
        value = uuid.uuid4().hex
        started = time.perf_counter()
        if _is_redis_backend(config["BACKEND"]):
            self._round_trip_redis(key, value)
        else:
            cache = caches[self.alias]
            cache.set(key, value, timeout=30)
            got = cache.get(key)
            cache.delete(key)
            if got != value:
                raise ServiceReturnedUnexpectedResult("value read back differs")
        return _elapsed_ms(started)

    def _round_trip_redis(self, key: str, value: str) -> None:
        import redis

        client = self._redis_client()
        try:
            client.set(key, value, ex=30)
            got = client.get(key)
            client.delete(key)
        except redis.exceptions.TimeoutError as error:
            raise ServiceUnavailable(f"timeout after {self.deadline:.1f}s") from error
        except redis.exceptions.AuthenticationError as error:
            raise ServiceUnavailable("authentication failed") from error
        except redis.exceptions.ConnectionError as error:
            refused = isinstance(error.__context__, ConnectionRefusedError) or (
                "refused" in str(error).lower()
            )
            raise ServiceUnavailable(
                "connection refused" if refused else "cache unavailable"
            ) from error
        except redis.exceptions.RedisError as error:
            raise ServiceReturnedUnexpectedResult("cache refused the round trip") from error
        if got is None or got.decode() != value:
            raise ServiceReturnedUnexpectedResult("value read back differs")


def _is_redis_backend(path: str) -> bool:
    """Return True for Django's Redis backend and its subclasses (the app's instrumented one)."""
    from django.core.cache.backends.redis import RedisCache

    backend = import_string(path)
    return isinstance(backend, type) and issubclass(backend, RedisCache)


class DiskCheck(HealthCheck):
    """Used space of the data and log directories' file systems, in percent (the fullest).

    Warns at ``HEALTH_DISK_WARN_PERCENT``, fails at ``HEALTH_DISK_FAIL_PERCENT``. The figure
    is the system monitor's (``system.monitor.disk_usage``): of the space the app, not
    running as root, can use.
    """

    name = "disk"
    component = "disk"
    measurement = "utilization"
    component_type = "system"
    unit = "percent"

    def __init__(self, paths: Sequence[str | Path] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.paths = [Path(p) for p in (paths or [settings.DATA_DIR, settings.LOG_DIR])]

    def run(self) -> Value:
        used = max(disk_usage(_existing(path)).percent for path in self.paths)
        if used >= settings.HEALTH_DISK_FAIL_PERCENT:
            raise ServiceUnavailable("disk almost full", used)
        if used >= settings.HEALTH_DISK_WARN_PERCENT:
            raise ServiceWarning("disk space low", used)
        return used


def _existing(path: Path) -> Path:
    """Return ``path`` or, while it does not exist yet (a log folder), its nearest parent."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path
