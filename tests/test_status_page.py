"""The public status page: open to anyone, cacheable, built from probes (else health checks),
90-day uptime bars from the daily rollup, incidents from critical alerts under public titles,
operators' messages, and nothing internal on it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from helpdesk import __version__
from helpdesk.monitoring.alerting import services
from helpdesk.monitoring.alerting.models import Alert
from helpdesk.monitoring.alerting.worker import Job
from helpdesk.monitoring.health.checks import HealthCheck
from helpdesk.monitoring.probes import uptime
from helpdesk.monitoring.probes.models import ProbeRun, UptimeDay
from helpdesk.monitoring.status.models import StatusMessage

pytestmark = pytest.mark.django_db

SECRET_HOST = "db-primary-7.internal.example"
SECRET_TEXT = "psycopg.OperationalError: connection to server at 10.1.2.3 failed"


def _run(probe: str, success: bool, ago: float = 1.0, phase: str = "") -> ProbeRun:
    return ProbeRun.objects.create(
        probe=probe,
        started_at=timezone.now() - timedelta(seconds=ago),
        success=success,
        duration_seconds=0.01,
        failed_phase=phase if not success else "",
        error="status 500" if not success else "",
    )


class DatabaseGone(HealthCheck):
    """A critical check failing with a driver's message (hosts, addresses) in its exception."""

    name, component, measurement = "database", "database", "responseTime"

    def run(self) -> None:
        raise ConnectionError(f"{SECRET_TEXT} ({SECRET_HOST})")


@pytest.fixture
def health_down(settings: Any) -> None:
    settings.HEALTH_CHECKS = [{"check": "tests.test_status_page.DatabaseGone", "critical": True}]


def _states() -> dict[str, str]:
    return {state.component.key: state.state for state in uptime.current()}


def _critical(name: str = "DatabaseDown", **labels: str) -> Alert:
    alert, _ = services.fire(
        name=name,
        labels={"alertname": name, "severity": "critical", "instance": SECRET_HOST, **labels},
        annotations={"summary": SECRET_TEXT, "description": SECRET_TEXT},
        severity="critical",
    )
    assert alert is not None
    return alert


def test_it_serves_the_page_to_anonymous_visitors_with_cache_control(client: Client) -> None:
    response = client.get("/status/")
    assert response.status_code == 200
    assert "public" in response["Cache-Control"]
    assert "max-age=30" in response["Cache-Control"]
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies
    text = response.content.decode()
    for component in ("Web pages", "Sign-in", "API"):
        assert component in text
    assert "<script" not in text
    assert "/static/status/status.css" in text
    assert "/static/helpdesk/" not in text  # no staff bundle on the public page


def test_it_answers_head_and_refuses_post(client: Client) -> None:
    assert client.head("/status/").status_code == 200
    assert client.post("/status/").status_code == 405


def test_it_judges_components_by_their_probes(settings: Any) -> None:
    settings.PROBE_CHECKS = ["ready", "login", "journey"]
    _run("ready", True)
    _run("login", False, ago=40)
    _run("login", False)
    _run("journey", False, ago=40)
    _run("journey", True, ago=80)
    _run("journey", False)
    assert _states() == {"web": "operational", "signin": "outage", "api": "outage"}
    ProbeRun.objects.filter(
        probe="journey", started_at__lt=timezone.now() - timedelta(seconds=30)
    ).update(success=True)
    assert _states()["api"] == "degraded"


def test_it_falls_back_to_health_checks_without_fresh_probes(
    settings: Any,
) -> None:
    settings.PROBE_CHECKS = ["ready"]
    _run("ready", False, ago=3600)  # stale: says nothing about now
    _run("journey", True)  # not configured: ignored
    states = uptime.current()
    assert {state.source for state in states} == {"health"}
    assert all(state.state == "operational" for state in states)
    settings.HEALTH_CHECKS = [{"check": "tests.test_status_page.DatabaseGone", "critical": True}]
    assert set(_states().values()) == {"outage"}


def test_it_ignores_probe_runs_that_could_not_judge(settings: Any) -> None:
    settings.PROBE_CHECKS = ["journey"]
    _run("journey", False, phase="setup")
    _run("journey", False, phase="setup", ago=2)
    state = uptime.current()[2]
    assert (state.source, state.state) == ("health", "operational")


def test_it_records_daily_samples_and_prunes_old_days(settings: Any) -> None:
    settings.PROBE_CHECKS = ["login"]
    _run("login", False, ago=40)
    _run("login", False)
    old = date.today() - timedelta(days=uptime.RETENTION_DAYS + 5)
    UptimeDay.objects.create(component="web", day=old, samples=10)
    now = timezone.now()
    assert uptime.record(now) == {"web": "operational", "signin": "outage", "api": "operational"}
    uptime.record(now)
    today = now.astimezone(UTC).date()
    rows = {row.component: row for row in UptimeDay.objects.filter(day=today)}
    assert (rows["signin"].samples, rows["signin"].outages) == (2, 2)
    assert (rows["web"].samples, rows["web"].outages) == (2, 0)
    assert not UptimeDay.objects.filter(day=old).exists()


def test_it_draws_ninety_bars_per_component(client: Client) -> None:
    today = timezone.now().astimezone(UTC).date()
    UptimeDay.objects.create(component="api", day=today, samples=1000, outages=50)
    UptimeDay.objects.create(
        component="api", day=today - timedelta(days=1), samples=1000, outages=1
    )
    UptimeDay.objects.create(component="api", day=today - timedelta(days=2), samples=1000)
    line = uptime.days(today=today)["api"]
    assert len(line) == 90
    assert [day.level for day in line[-3:]] == ["ok", "warn", "fail"]
    assert line[0].level == "none"
    assert uptime.uptime(line) == pytest.approx(1 - 51 / 3000)
    text = client.get("/status/").content.decode()
    assert text.count('class="bar bar-') == 270
    assert "98.30 % uptime" in text


def test_it_shows_incidents_from_critical_alerts_under_public_titles(client: Client) -> None:
    open_alert = _critical("HighErrorRate")
    resolved = _critical("DatabaseDown")
    services.resolve(resolved.fingerprint)
    _critical("TLSCertificateExpiryCritical")
    services.fire(
        name="HighResponseTime", labels={"alertname": "HighResponseTime"}, severity="warning"
    )
    StatusMessage.objects.create(alert=open_alert, body="We are looking into sign-in failures.")
    StatusMessage.objects.create(alert=resolved, body="Fixed by a restart.")
    StatusMessage.objects.create(alert=open_alert, body="draft", published=False)
    StatusMessage.objects.create(body="Maintenance on Sunday 02:00-03:00 UTC.")
    StatusMessage.objects.create(
        body="Old notice", visible_until=timezone.now() - timedelta(hours=1)
    )
    text = client.get("/status/").content.decode()
    assert "Ongoing incidents" in text
    assert "Elevated error rates" in text
    assert "Service disruption" in text  # the resolved DatabaseDown, under a public title
    assert "resolved" in text
    assert "We are looking into sign-in failures." in text
    assert "Fixed by a restart." in text
    assert "Maintenance on Sunday" in text
    for hidden in (
        "draft",
        "Old notice",
        "DatabaseDown",
        "HighErrorRate",
        "TLSCertificate",
        "HighResponseTime",
    ):
        assert hidden not in text


def test_it_leaks_nothing_internal(client: Client, settings: Any, health_down: None) -> None:
    settings.PROBE_CHECKS = ["ready"]
    ProbeRun.objects.create(
        probe="ready",
        started_at=timezone.now(),
        success=False,
        duration_seconds=1.0,
        failed_phase="ready",
        error=SECRET_TEXT[:200],
    )
    _critical("HealthCheckFailing", check="database")
    text = client.get("/status/").content.decode()
    for secret in (
        SECRET_HOST,
        SECRET_TEXT,
        "10.1.2.3",
        "psycopg",
        "database",
        "HealthCheck",
        "ConnectionError",
        "unexpected error",
        __version__,
        "127.0.0.1",
        "localhost",
    ):
        assert secret not in text, secret


def test_it_says_major_outage_when_everything_is_down(client: Client, health_down: None) -> None:
    text = client.get("/status/").content.decode()
    assert "Major outage" in text
    assert "banner-fail" in text


def test_it_lets_staff_write_public_messages_in_the_admin(
    client: Client, alice: Any, bob: Any
) -> None:
    client.force_login(bob)
    assert client.get("/admin/status/statusmessage/add/").status_code in (302, 403)
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    response = client.post(
        "/admin/status/statusmessage/add/", {"body": "All good again.", "published": "on"}
    )
    assert response.status_code == 302
    message = StatusMessage.objects.get()
    assert message.created_by == alice.username
    client.logout()
    assert "All good again." in client.get("/status/").content.decode()


def test_it_runs_the_uptime_job_in_the_worker() -> None:
    from helpdesk.monitoring.alerting.management.commands.worker import build_worker

    worker = build_worker(evaluate=False, deliver=False)
    job: Job = next(job for job in worker.jobs if job.name == "uptime")
    assert job.interval == 60.0
    job.func()
    assert UptimeDay.objects.count() == 3


def test_it_keeps_days_in_utc() -> None:
    late = datetime(2026, 12, 4, 23, 59, tzinfo=UTC)
    uptime.record(late)
    assert set(UptimeDay.objects.values_list("day", flat=True)) == {date(2026, 12, 4)}
