"""Health checks against real PostgreSQL and Redis, dead ports and blackholes; the runner's
deadlines, cache, single-flight and recovery.

Servers: the PostgreSQL of DATABASE_URL and the Redis of REDIS_URL (skipped without them
unless HELPDESK_REQUIRE_SERVICES=1); blackholes and forwarders are real local TCP sockets
(tests/tcp.py). Bounds on time are generous (deadline + 1 s): they assert that nothing waits
for the dependency, not how fast the machine is.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from helpdesk.monitoring.alerting.checks import WorkerHeartbeatCheck
from helpdesk.monitoring.health.checks import (
    CacheCheck,
    DatabaseCheck,
    DiskCheck,
    HealthCheck,
    MigrationsCheck,
    ServiceUnavailable,
    ServiceWarning,
)
from helpdesk.monitoring.health.runner import HealthRunner
from tests.services import port_open, unavailable
from tests.tcp import Blackhole, Forwarder, closed_port

DEADLINE = 0.5
SECRET_PASSWORD = "pw-s3cr3t-7f1e"


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        unavailable("DATABASE_URL does not point at PostgreSQL")


def _require_redis() -> None:
    if not settings.REDIS_URL:
        unavailable("REDIS_URL is not set")
    if not port_open("127.0.0.1", 6379):
        unavailable("Redis is not running on 127.0.0.1:6379")


class PointedDatabaseCheck(DatabaseCheck):
    """The database check aimed at another host/port with other credentials."""

    def __init__(self, port: int, host: str = "localhost", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host, self.port = host, port

    def connection_settings(self) -> dict[str, Any]:
        config = super().connection_settings()
        config.update(HOST=self.host, PORT=self.port, PASSWORD=SECRET_PASSWORD)
        return config


def _redis_cache(port: int) -> dict[str, Any]:
    return {
        **settings.CACHES,
        "probe": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://:{SECRET_PASSWORD}@localhost:{port}/3",
        },
    }


def _run(check: HealthCheck) -> Any:
    report = HealthRunner([check]).run()
    return report, report.results[0]


# Real dependencies pass.


@pytest.mark.django_db
def test_it_passes_against_the_real_postgresql() -> None:
    _require_postgresql()
    report, result = _run(DatabaseCheck(deadline=DEADLINE * 4))
    assert (report.status, result.status, result.observed_unit) == ("pass", "pass", "ms")
    assert isinstance(result.observed_value, float)


@pytest.mark.django_db
def test_it_passes_against_the_database_of_the_settings() -> None:
    _report, result = _run(DatabaseCheck())
    assert result.status == "pass", result.output


def test_it_passes_against_the_real_redis() -> None:
    _require_redis()
    _report, result = _run(CacheCheck(deadline=DEADLINE * 4))
    assert (result.key, result.status, result.observed_unit) == ("cache:responseTime", "pass", "ms")


def test_it_leaves_no_probe_key_in_redis() -> None:
    _require_redis()
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    before = set(client.scan_iter("*:health:*"))
    CacheCheck().run()
    assert set(client.scan_iter("*:health:*")) == before


@pytest.mark.django_db
def test_it_reports_no_pending_migrations_on_the_migrated_database() -> None:
    _report, result = _run(MigrationsCheck())
    assert (result.key, result.status, result.observed_value) == ("migrations:pending", "pass", 0)


# Dead and hung dependencies fail, fast or within the deadline.


@pytest.mark.django_db
def test_it_fails_fast_when_the_database_port_is_closed() -> None:
    _require_postgresql()
    report, result = _run(PointedDatabaseCheck(closed_port(), deadline=5.0))
    assert (report.status, result.status) == ("fail", "fail")
    assert result.output == "connection refused"
    assert report.duration < 5.0  # refused, not timed out


def test_it_fails_fast_when_the_redis_port_is_closed() -> None:
    with override_settings(CACHES=_redis_cache(closed_port())):
        report, result = _run(CacheCheck(alias="probe", deadline=5.0))
    assert (report.status, result.output) == ("fail", "connection refused")
    assert report.duration < 5.0


def test_it_probes_the_apps_own_redis_backend_with_the_bounded_client() -> None:
    # settings.py's Redis cache is the instrumented subclass of Django's backend: an outage
    # is "connection refused", not a bug ("unexpected error" with a traceback per probe).
    caches = _redis_cache(closed_port())
    caches["probe"]["BACKEND"] = "helpdesk.monitoring.metrics.cache.RedisCache"
    with override_settings(CACHES=caches):
        report, result = _run(CacheCheck(alias="probe", deadline=5.0))
    assert (report.status, result.output) == ("fail", "connection refused")


@pytest.mark.django_db
def test_it_fails_within_the_deadline_when_the_database_never_answers() -> None:
    _require_postgresql()
    with Blackhole() as hole:
        started = time.monotonic()
        report, result = _run(PointedDatabaseCheck(hole.port, deadline=DEADLINE))
        elapsed = time.monotonic() - started
    assert (report.status, result.status) == ("fail", "fail")
    assert result.output == "timeout after 0.5s"
    assert elapsed < DEADLINE + 1.0


def test_it_fails_within_the_deadline_when_redis_never_answers() -> None:
    with Blackhole() as hole, override_settings(CACHES=_redis_cache(hole.port)):
        started = time.monotonic()
        report, result = _run(CacheCheck(alias="probe", deadline=DEADLINE))
        elapsed = time.monotonic() - started
    assert (report.status, result.output) == ("fail", "timeout after 0.5s")
    assert elapsed < DEADLINE + 1.0


def test_it_maps_a_redis_socket_timeout_to_a_safe_message() -> None:
    # Called directly (no runner deadline): the client's own socket timeout ends the wait.
    with Blackhole() as hole, override_settings(CACHES=_redis_cache(hole.port)):
        check = CacheCheck(alias="probe", deadline=DEADLINE)
        with pytest.raises(ServiceUnavailable) as raised:
            check.run()
    assert raised.value.message == "timeout after 0.5s"


@pytest.mark.django_db
def test_it_ends_the_stuck_database_probe_thread_with_the_connect_timeout() -> None:
    _require_postgresql()
    # Called directly: connect_timeout (ceil of the deadline, at least psycopg's 2 s
    # minimum) ends the wait, so a thread the runner gave up on does not stay blocked.
    with Blackhole() as hole:
        check = PointedDatabaseCheck(hole.port, deadline=DEADLINE)
        with pytest.raises(ServiceUnavailable) as raised:
            check.run()
    assert raised.value.message in {"connection timeout", "database unavailable"}


@pytest.mark.django_db
def test_it_keeps_secrets_and_hosts_out_of_outputs_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _require_postgresql()
    caplog.set_level(logging.DEBUG)
    with Blackhole() as hole, override_settings(CACHES=_redis_cache(hole.port)):
        checks = [
            PointedDatabaseCheck(closed_port(), deadline=5.0),
            CacheCheck(alias="probe", deadline=DEADLINE),
        ]
        report = HealthRunner(checks).run()
    assert [r.status for r in report.results] == ["fail", "fail"]
    text = repr(report) + caplog.text + " ".join(repr(r.__dict__) for r in caplog.records)
    for secret in (SECRET_PASSWORD, "localhost", "127.0.0.1", "redis://", "postgres://"):
        assert secret not in text
    assert "error.type" in " ".join(str(r.__dict__) for r in caplog.records)


# The runner: concurrency, unexpected errors, cache, single-flight, recovery.


class BarrierCheck(HealthCheck):
    """Passes only if ``parties`` checks run at the same time."""

    component, measurement = "barrier", "together"

    def __init__(self, name: str, barrier: threading.Barrier) -> None:
        super().__init__(deadline=5.0)
        self.name = name  # type: ignore[misc]
        self.barrier = barrier

    def run(self) -> None:
        self.barrier.wait(timeout=3)


def test_it_runs_the_checks_concurrently() -> None:
    barrier = threading.Barrier(3)
    report = HealthRunner([BarrierCheck(f"b{i}", barrier) for i in range(3)]).run()
    assert [r.status for r in report.results] == ["pass", "pass", "pass"]


class CountingCheck(HealthCheck):
    """Counts its calls; slow enough for probes to pile up; fails while ``down`` is set."""

    name, component, measurement = "counting", "counting", "calls"

    def __init__(self, sleep: float = 0.2) -> None:
        super().__init__(deadline=5.0)
        self.calls = 0
        self.sleep = sleep
        self.down = False
        self._lock = threading.Lock()

    def run(self) -> int:
        with self._lock:
            self.calls += 1
        time.sleep(self.sleep)
        if self.down:
            raise ServiceUnavailable("down")
        return self.calls


def test_it_reaches_the_dependency_once_for_50_concurrent_probes() -> None:
    check = CountingCheck()
    runner = HealthRunner([check], cache_seconds=30.0)
    start = threading.Barrier(50)
    statuses: list[str] = []

    def probe() -> None:
        start.wait()
        statuses.append(runner.report().status)

    threads = [threading.Thread(target=probe) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert check.calls == 1
    assert statuses == ["pass"] * 50


def test_it_shares_a_run_even_without_a_cache() -> None:
    check = CountingCheck()
    runner = HealthRunner([check], cache_seconds=0.0)
    threads = [threading.Thread(target=runner.report) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Probes that waited for a run share it: one leader, at most a second run for late comers.
    assert check.calls <= 2


def test_it_runs_again_once_the_cache_expires_and_reports_recovery() -> None:
    check = CountingCheck(sleep=0.0)
    now = [1000.0]
    runner = HealthRunner([check], cache_seconds=2.0, clock=lambda: now[0])
    check.down = True
    assert runner.report().status == "fail"
    check.down = False
    now[0] += 1.0
    assert runner.report().status == "fail"  # cached
    assert check.calls == 1
    now[0] += 1.5
    assert runner.report().status == "pass"
    assert check.calls == 2


class ExplodingCheck(HealthCheck):
    name, component, measurement = "exploding", "exploding", "status"

    def run(self) -> None:
        raise RuntimeError(f"postgres://admin:{SECRET_PASSWORD}@db.internal/helpdesk")


def test_it_turns_an_unexpected_exception_into_a_fixed_phrase() -> None:
    report, result = _run(ExplodingCheck())
    assert (result.status, result.output) == ("fail", "unexpected error")
    assert SECRET_PASSWORD not in repr(report)


class HangingCheck(HealthCheck):
    name, component, measurement = "hanging", "hanging", "status"

    def __init__(self, release: threading.Event) -> None:
        super().__init__(deadline=0.2)
        self.release = release
        self.calls = 0

    def run(self) -> None:
        self.calls += 1
        self.release.wait(10)


def test_it_does_not_start_a_check_whose_previous_run_is_still_stuck() -> None:
    release = threading.Event()
    check = HangingCheck(release)
    runner = HealthRunner([check])
    try:
        first = runner.run().results[0]
        second = runner.run().results[0]
    finally:
        release.set()
    assert first.output == "timeout after 0.2s"
    assert second.output == "timeout after 0.2s (previous probe still running)"
    assert check.calls == 1


@pytest.mark.django_db
def test_it_recovers_when_the_database_comes_back_without_a_restart() -> None:
    _require_postgresql()
    host, port = "127.0.0.1", int(connection.settings_dict.get("PORT") or 5432)
    relay = Forwarder((host, port))
    relay.start()
    check = PointedDatabaseCheck(relay.port, deadline=3.0)
    now = [0.0]
    runner = HealthRunner([check], cache_seconds=2.0, clock=lambda: now[0] + time.monotonic())
    try:
        assert runner.report().status == "pass"
        relay.stop()
        now[0] += 10
        assert runner.report().status == "fail"
        relay.start()
        now[0] += 10
        assert runner.report().status == "pass"
    finally:
        relay.stop()


def test_it_recovers_when_redis_comes_back(tmp_path: Any) -> None:
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        unavailable("redis-server is not installed")
    import subprocess

    port = closed_port()
    caches = {
        **settings.CACHES,
        "probe": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        },
    }
    with override_settings(CACHES=caches):
        check = CacheCheck(alias="probe", deadline=2.0)
        assert _run(check)[1].output == "connection refused"
        server = subprocess.Popen(
            [redis_server, "--port", str(port), "--save", "", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                if port_open("127.0.0.1", port):
                    break
                time.sleep(0.05)
            assert _run(check)[1].status == "pass"
        finally:
            server.terminate()
            server.wait(10)


# Disk and worker heartbeat.


def test_it_warns_and_fails_on_disk_thresholds(tmp_path: Any) -> None:
    used = DiskCheck(paths=[tmp_path]).run()
    assert isinstance(used, float)
    assert 0 < used < 100
    warn = override_settings(HEALTH_DISK_WARN_PERCENT=used / 2, HEALTH_DISK_FAIL_PERCENT=99.99)
    with warn, pytest.raises(ServiceWarning):
        DiskCheck(paths=[tmp_path]).run()
    fail = override_settings(HEALTH_DISK_WARN_PERCENT=used / 4, HEALTH_DISK_FAIL_PERCENT=used / 2)
    with fail, pytest.raises(ServiceUnavailable) as raised:
        DiskCheck(paths=[tmp_path / "not" / "created" / "yet"]).run()
    assert raised.value.observed_value == used


@pytest.fixture
def no_heartbeat(db: None) -> Iterator[None]:
    from django.core.cache import cache

    from helpdesk.monitoring.alerting.worker import HEARTBEAT_CACHE_KEY

    cache.delete(HEARTBEAT_CACHE_KEY)
    yield
    cache.delete(HEARTBEAT_CACHE_KEY)


def test_it_warns_without_a_worker_heartbeat(no_heartbeat: None) -> None:
    with pytest.raises(ServiceWarning) as raised:
        WorkerHeartbeatCheck(critical=False).run()
    assert raised.value.message == "no worker heartbeat yet"


def test_it_passes_with_a_fresh_heartbeat_and_warns_when_stale(no_heartbeat: None) -> None:
    from helpdesk.monitoring.alerting.worker import Worker

    Worker([]).heartbeat()
    age = WorkerHeartbeatCheck(critical=False).run()
    assert isinstance(age, float)
    assert age < 60
    stale = override_settings(WORKER_HEARTBEAT_STALE_SECONDS=-1)
    with stale, pytest.raises(ServiceWarning) as raised:
        WorkerHeartbeatCheck(critical=False).run()
    assert raised.value.message == "worker heartbeat is stale"


def test_it_keeps_a_non_critical_failure_at_warn() -> None:
    check = CountingCheck(sleep=0.0)
    check.critical = False
    check.down = True
    report = HealthRunner([check]).run()
    assert (report.results[0].status, report.status) == ("fail", "warn")
    assert report.statuses() == {"counting": "warn"}


@pytest.mark.django_db
def test_it_fails_while_a_migration_is_not_applied() -> None:
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.recorder import MigrationRecorder

    MigrationsCheck._applied.discard("default")
    # Forget the newest tickets migration (a leaf, so exactly one becomes pending), in the
    # test's transaction (rolled back afterwards); run() in this thread sees it.
    leaf = next(n for n in MigrationLoader(connection).graph.leaf_nodes() if n[0] == "tickets")
    MigrationRecorder.Migration.objects.filter(app=leaf[0], name=leaf[1]).delete()
    with pytest.raises(ServiceUnavailable) as raised:
        MigrationsCheck().run()
    assert raised.value.message == "1 migrations not applied"
    assert raised.value.observed_value == 1
    assert "default" not in MigrationsCheck._applied


def _settings_error(tmp_path: Any, **env: str) -> str:
    from tests.test_settings import run_check

    result = run_check(tmp_path, **env)
    assert result.returncode != 0
    return result.stderr


def test_it_refuses_bad_health_settings(tmp_path: Any) -> None:
    assert "HEALTH_DEADLINE_SECONDS" in _settings_error(tmp_path, HEALTH_DEADLINE_SECONDS="0")
    error = _settings_error(tmp_path, HEALTH_DISK_WARN_PERCENT="96", HEALTH_DISK_FAIL_PERCENT="95")
    assert "HEALTH_DISK_WARN_PERCENT" in error
    short = _settings_error(
        tmp_path,
        HELPDESK_ENV="production",
        ALLOWED_HOSTS="example.org",
        SECRET_KEY="k" * 64,
        HEALTH_TOKEN="short",
    )
    assert "HEALTH_TOKEN must be at least 32 characters" in short
