"""The health endpoints: payloads, status codes, who sees details, the early middleware,
the collector and the evaluator's use of the same results."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from prometheus_client import CollectorRegistry, generate_latest

from helpdesk.monitoring.health import runner
from helpdesk.monitoring.health.checks import HealthCheck, ServiceUnavailable, ServiceWarning
from tests.conftest import client_for
from tests.tcp import Blackhole

HEALTH_TOKEN = "h" * 40
MONITORING_TOKEN = "m" * 40
SECRET = "pw-endpoint-5ec7e7"


class FixedCheck(HealthCheck):
    """A check whose outcome the test chooses."""

    component, measurement, unit = "fixed", "value", "ms"

    def __init__(self, name: str = "fixed", status: str = "pass", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name  # type: ignore[misc]
        self.component = name  # type: ignore[misc]
        self.status = status

    def run(self) -> float:
        if self.status == "warn":
            raise ServiceWarning("getting full", 91.0)
        if self.status == "fail":
            raise ServiceUnavailable("connection refused")
        return 1.5


def fixed(name: str, status: str, critical: bool = True) -> dict[str, Any]:
    return {
        "check": "tests.test_health_endpoints.FixedCheck",
        "critical": critical,
        "options": {"name": name, "status": status},
    }


@pytest.fixture(autouse=True)
def fresh_runner() -> Iterator[None]:
    runner._default = None
    with override_settings(HEALTH_TOKEN=HEALTH_TOKEN, MONITORING_API_TOKEN=MONITORING_TOKEN):
        yield
    runner._default = None


def checks(*entries: dict[str, Any]) -> Any:
    return override_settings(HEALTH_CHECKS=list(entries))


def body(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/health+json"
    assert response["Cache-Control"] == "no-store"
    data: dict[str, Any] = json.loads(response.content)
    return data


def get(path: str, token: str | None = None, client: Client | None = None, **extra: Any) -> Any:
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return (client or Client()).get(path, **extra)


def test_it_answers_liveness_without_touching_dependencies() -> None:
    with checks(fixed("database", "fail")):
        response = get("/health/live")
    assert response.status_code == 200
    assert body(response) == {"status": "pass"}


def test_it_gives_liveness_details_to_the_token() -> None:
    data = body(get("/health/live", HEALTH_TOKEN))
    assert data["status"] == "pass"
    assert data["releaseId"] and data["serviceId"] == "helpdesk"
    assert data["checks"]["process:uptime"][0]["observedUnit"] == "s"


def test_it_shows_only_statuses_to_anonymous_callers() -> None:
    with checks(fixed("database", "pass"), fixed("disk", "warn")):
        response = get("/health/ready")
    assert response.status_code == 200
    assert body(response) == {
        "status": "warn",
        "checks": {
            "database:value": [{"status": "pass"}],
            "disk:value": [{"status": "warn"}],
        },
    }


@pytest.mark.parametrize("token", [HEALTH_TOKEN, MONITORING_TOKEN])
def test_it_shows_values_and_outputs_to_token_holders(token: str) -> None:
    with checks(fixed("database", "pass"), fixed("disk", "warn")):
        data = body(get("/health/", token))
    assert data["status"] == "warn"
    assert {"version", "releaseId", "serviceId", "description", "response_time_ms"} <= set(data)
    database = data["checks"]["database:value"][0]
    assert database["observedValue"] == 1.5
    assert database["observedUnit"] == "ms"
    assert "output" not in database  # only when not passing
    disk = data["checks"]["disk:value"][0]
    assert (disk["status"], disk["output"], disk["observedValue"]) == ("warn", "getting full", 91.0)
    assert {"componentType", "time"} <= set(disk)


def test_it_shows_only_statuses_for_a_wrong_token() -> None:
    with checks(fixed("database", "fail")):
        response = get("/health/ready", "not-the-token")
    assert response.status_code == 503
    assert body(response) == {"status": "fail", "checks": {"database:value": [{"status": "fail"}]}}


@pytest.mark.parametrize(
    ("statuses", "code", "overall"),
    [
        (("pass", "pass"), 200, "pass"),
        (("pass", "warn"), 200, "warn"),
        (("fail", "pass"), 503, "fail"),
        (("warn", "fail"), 503, "fail"),
    ],
)
def test_it_maps_status_to_http_code(statuses: tuple[str, str], code: int, overall: str) -> None:
    with checks(fixed("a", statuses[0]), fixed("b", statuses[1])):
        for path in ("/health/ready", "/health/", "/health"):
            response = get(path)
            assert response.status_code == code
            assert body(response)["status"] == overall


def test_it_only_warns_when_a_non_critical_check_fails() -> None:
    with checks(fixed("database", "pass"), fixed("worker", "fail", critical=False)):
        response = get("/health/ready", HEALTH_TOKEN)
    assert response.status_code == 200
    data = body(response)
    assert data["status"] == "warn"
    assert data["checks"]["worker:value"][0]["status"] == "fail"
    assert data["checks"]["worker:value"][0]["critical"] is False


def test_it_refuses_other_methods() -> None:
    response = Client().post("/health/ready")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_it_answers_head_without_a_body() -> None:
    with checks(fixed("database", "fail")):
        response = Client().head("/health/ready")
    assert response.status_code == 503
    assert response.content == b""


@override_settings(ALLOWED_HOSTS=["helpdesk.example"])
def test_it_answers_probes_addressed_by_pod_ip() -> None:
    # Orchestrators probe by IP; ALLOWED_HOSTS would refuse them later in the stack.
    assert get("/health/live", HTTP_HOST="10.1.2.3").status_code == 200
    assert get("/api/v1/tickets/", HTTP_HOST="10.1.2.3").status_code == 400


def test_it_answers_before_sessions_and_csrf() -> None:
    response = get("/health/live")
    assert "Cookie" not in response.get("Vary", "")
    assert "csrftoken" not in response.cookies
    assert response["X-Request-ID"]  # the request context still runs first


# Who sees details: owner, member, outsider (user accounts, session or API token) see
# statuses only; staff sessions and the health/monitoring tokens see everything.


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "carol"])
def test_it_shows_only_statuses_to_organization_users(who: str, request: Any) -> None:
    user = request.getfixturevalue(who)
    session = Client()
    session.force_login(user)
    with checks(fixed("database", "pass")):
        for client in (session, client_for(user)):
            response = client.get("/health/ready")
            assert response.status_code == 200
            assert body(response) == {
                "status": "pass",
                "checks": {"database:value": [{"status": "pass"}]},
            }


@pytest.mark.django_db
def test_it_shows_details_to_a_staff_session() -> None:
    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    with checks(fixed("database", "pass")):
        data = body(client.get("/health/ready"))
    assert data["checks"]["database:value"][0]["observedValue"] == 1.5
    assert "releaseId" in data


@pytest.mark.django_db
def test_it_shows_only_statuses_to_an_inactive_staff_account() -> None:
    staff = get_user_model().objects.create_user("gone", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    staff.is_active = False
    staff.save()
    with checks(fixed("database", "pass")):
        data = body(client.get("/health/"))
    assert "releaseId" not in data


# A hung dependency end to end, and no leaks.


@pytest.mark.django_db
def test_it_answers_within_the_deadline_when_the_database_hangs() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("DATABASE_URL does not point at PostgreSQL")
    with Blackhole() as hole:
        entry = {
            "check": "tests.test_health_checks.PointedDatabaseCheck",
            "deadline": 0.5,
            "options": {"port": hole.port},
        }
        with checks(entry, fixed("disk", "pass")):
            started = time.monotonic()
            response = get("/health/ready", HEALTH_TOKEN)
            elapsed = time.monotonic() - started
    assert response.status_code == 503
    data = body(response)
    database = data["checks"]["database:responseTime"][0]
    assert (database["status"], database["output"]) == ("fail", "timeout after 0.5s")
    assert data["checks"]["disk:value"][0]["status"] == "pass"
    assert elapsed < 0.5 + 1.0
    for leak in ("localhost", "127.0.0.1", str(hole.port), "pw-s3cr3t"):
        assert leak not in response.content.decode()


class LeakyCheck(HealthCheck):
    name, component, measurement = "leaky", "database", "responseTime"

    def run(self) -> None:
        raise ConnectionError(f"postgres://helpdesk:{SECRET}@db.internal:5432/helpdesk")


def test_it_never_shows_exception_text() -> None:
    with checks({"check": "tests.test_health_endpoints.LeakyCheck"}):
        response = get("/health/", HEALTH_TOKEN)
    assert response.status_code == 503
    assert body(response)["checks"]["database:responseTime"][0]["output"] == "unexpected error"
    assert SECRET not in response.content.decode()
    assert "db.internal" not in response.content.decode()


# Other readers of the same results.


def test_it_exports_the_check_results_as_metrics() -> None:
    from helpdesk.monitoring.health.collector import HealthCollector

    registry = CollectorRegistry()
    registry.register(HealthCollector())
    with checks(fixed("database", "pass"), fixed("disk", "warn"), fixed("cache", "fail")):
        text = generate_latest(registry).decode()
    assert 'helpdesk_health_check_up{check="database"} 1.0' in text
    assert 'helpdesk_health_check_up{check="disk"} 1.0' in text
    assert 'helpdesk_health_check_up{check="cache"} 0.0' in text
    assert 'helpdesk_health_check_status{check="disk",status="warn"} 1.0' in text
    assert 'helpdesk_health_check_status{check="disk",status="pass"} 0.0' in text
    assert 'helpdesk_health_check_duration_seconds{check="cache"}' in text


def test_it_lists_the_collector_in_the_settings() -> None:
    from django.conf import settings

    assert "helpdesk.monitoring.health.collector.HealthCollector" in (
        settings.HELPDESK_METRICS_COLLECTORS
    )


def test_it_feeds_the_alerting_readiness_rule_from_the_same_report() -> None:
    from helpdesk.monitoring.alerting.rules import default_rules

    by_name = {r.name: r for r in default_rules()}
    now = time.time()
    with checks(fixed("database", "fail"), fixed("worker", "fail", critical=False)):
        database = {o.instance: o.bad for o in by_name["DatabaseDown"].source.observe(now)}
        others = {o.instance: o.bad for o in by_name["HealthCheckFailing"].source.observe(now)}
        report = runner.last_report()
        served = get("/health/ready")
        assert runner.last_report() is report  # the probe shares the evaluator's run
    assert served.status_code == 503
    assert database == {"database": True}
    assert others == {"worker": False}
