"""The console's Database, System, Security and Business pages: what they show from the
monitoring packages, the unlock action (staff only, bad input 400), the business JSON and
the pages' charts answered by the query layer. Access per page: tests/test_console.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.pages import business, system
from helpdesk.monitoring.history import query as q
from helpdesk.monitoring.metrics.business import collect_business
from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.lockout import account_key, engine
from helpdesk.monitoring.security.models import SecurityEvent
from helpdesk.tickets.models import Ticket
from tests import test_console
from tests.metrics_history import T0, Recorder

pytestmark = pytest.mark.django_db
# The console's access fixtures (a staff user, a member of the monitoring group) and client.
staff, reader, signed_in = test_console.staff, test_console.reader, test_console.signed_in

UNLOCK = "/monitoring/security/unlock/"
BUSINESS_JSON = "/api/v1/monitoring/console/business/"
ATTACKER = "198.51.100.23"


@pytest.fixture
def locked(settings: Any) -> Iterator[str]:
    """Lock out ATTACKER's IP and the account "victim"; yield the account's key."""
    for _ in range(settings.SECURITY_LOGIN_FAILURE_LIMIT):
        engine.record_failure(ATTACKER, "victim")
    yield account_key("victim")
    engine.unlock("ip", ATTACKER)
    engine.unlock_user("victim")


# -- security ------------------------------------------------------------------------------


def test_it_shows_security_events_and_lockouts(staff: Any, locked: str) -> None:
    for _ in range(3):
        events.publish("authn_login_fail", ip=ATTACKER, path="/admin/login/", username="victim")
    events.publish("malicious_probe_path", ip=ATTACKER, path="/.env")
    body = signed_in(staff).get("/monitoring/security/?range=1h").content.decode()
    assert ATTACKER in body
    assert "authn_login_fail" in body
    assert "malicious_probe_path" in body
    assert "2 locked" in body
    assert body.count('value="Unlock"') == 0  # a button, not an input
    assert body.count(">Unlock</button>") == 2
    assert "victim" not in body  # accounts appear by their keyed hash only
    filtered = signed_in(staff).get("/monitoring/security/?type=malicious_probe_path")
    assert "/.env" in filtered.content.decode()
    assert "/admin/login/" not in filtered.content.decode().split("Latest events")[1]


def test_it_hides_the_unlock_buttons_from_readers(reader: Any, locked: str) -> None:
    body = signed_in(reader).get("/monitoring/security/").content.decode()
    assert "2 locked" in body
    assert ">Unlock</button>" not in body


def test_it_unlocks_an_ip_and_an_account_for_staff(staff: Any, locked: str) -> None:
    client = signed_in(staff)
    response = client.post(UNLOCK, {"scope": "ip", "key": ATTACKER, "range": "6h"})
    assert response.status_code == 302
    assert response["Location"] == "/monitoring/security/?range=6h"
    assert engine.lock_of("ip", ATTACKER) is None
    response = client.post(UNLOCK, {"scope": "account", "key": locked}, follow=True)
    assert engine.lock_of("account", locked) is None
    assert "Lifted the lockout of account" in response.content.decode()
    unlocks = SecurityEvent.objects.filter(action="authn_login_unlock")
    assert unlocks.count() == 2
    assert {event.user_id for event in unlocks} == {staff.pk}
    assert {event.reason for event in unlocks} == {"unlocked by staff"}
    # Nothing locked any more: said so, and recorded as such.
    response = client.post(UNLOCK, {"scope": "ip", "key": ATTACKER}, follow=True)
    assert "was not locked" in response.content.decode()


def test_it_lets_only_staff_unlock(reader: Any, carol: Any, locked: str) -> None:
    data = {"scope": "ip", "key": ATTACKER}
    anonymous = signed_in(None).post(UNLOCK, data)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/monitoring/login/")
    assert signed_in(carol).post(UNLOCK, data).status_code == 403
    assert signed_in(reader).post(UNLOCK, data).status_code == 403
    assert engine.lock_of("ip", ATTACKER) is not None


def test_it_refuses_bad_unlock_input(staff: Any) -> None:
    client = signed_in(staff)
    for data in (
        {},
        {"scope": "ip", "key": "not-an-ip"},
        {"scope": "account", "key": "victim"},  # a username is not an account key
        {"scope": "host", "key": ATTACKER},
    ):
        assert client.post(UNLOCK, data).status_code == 400, data
    assert client.get(UNLOCK).status_code == 405


# -- business ------------------------------------------------------------------------------


@pytest.fixture
def tickets(make_ticket: Any, bob: Any) -> list[Ticket]:
    """Three open tickets (one past its SLA), one resolved late, one answered in time."""
    now = timezone.now()
    made = [make_ticket(priority=p) for p in ("urgent", "high", "normal", "low", "normal")]
    overdue, late, answered = made[0], made[1], made[2]
    Ticket.objects.filter(pk=overdue.pk).update(sla_due_at=now - timedelta(hours=1))
    Ticket.objects.filter(pk=late.pk).update(
        status="resolved",
        resolved_at=now,
        sla_due_at=now - timedelta(hours=2),
        created_at=now - timedelta(hours=5),
    )
    Ticket.objects.filter(pk=answered.pk).update(
        first_response_at=answered.created_at + timedelta(minutes=10)
    )
    return made


def test_it_shows_tickets_backlog_times_and_breaches(staff: Any, tickets: list[Ticket]) -> None:
    found = business.current()
    counts = {row["key"]: row["count"] for row in found["by_status"]}
    assert counts["resolved"] == 1
    assert sum(counts.values()) == 5
    assert sum(row["count"] for row in found["by_priority"]) == 4
    assert found["breached"] == {"open": 1.0, "resolved": 1.0}
    assert found["resolution"]["count"] == 1
    assert found["resolution"]["mean"] == pytest.approx(5 * 3600, rel=0.01)
    assert found["first_response"]["p50"] is not None
    figures = {figure["label"]: figure for figure in found["figures"]}
    assert figures["Backlog (open tickets)"]["value"] == 4
    assert figures["Open past SLA"]["status"] == "fail"
    body = signed_in(staff).get("/monitoring/business/").content.decode()
    assert "Backlog by organization" in body
    assert "acme" in body


def test_it_serves_the_business_figures_as_json(
    staff: Any, reader: Any, carol: Any, tickets: list[Ticket]
) -> None:
    assert signed_in(None).get(BUSINESS_JSON).status_code in {401, 403}
    assert signed_in(carol).get(BUSINESS_JSON).status_code == 403
    assert signed_in(reader).get(BUSINESS_JSON).status_code == 200
    data = signed_in(staff).get(BUSINESS_JSON).json()
    assert data["breached"] == {"open": 1.0, "resolved": 1.0}
    assert {row["key"] for row in data["by_status"]} >= {"new", "open", "resolved"}
    assert {figure["title"] for figure in data["figures"]} >= {"Open past SLA"}


class _Business(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from collect_business(20)


def test_it_charts_the_backlog_and_breaches_from_the_history(tickets: list[Ticket]) -> None:
    registry = CollectorRegistry()
    registry.register(_Business())
    record = Recorder(registry)
    record.at(0)
    record.at(60)
    record.at(120)
    now = T0 + 120
    backend = q.EmbeddedBackend(now=now)
    backlog = charts.chart_data(
        charts.CHARTS["business.backlog"], charts.RANGES["15m"], backend=backend, now=now
    )
    latest = {line["legend"]: line["values"][-1] for line in backlog["series"]}
    assert sum(v or 0 for v in latest.values()) == 4
    assert "resolved" not in latest
    sla = charts.chart_data(
        charts.CHARTS["business.sla"], charts.RANGES["15m"], backend=backend, now=now
    )
    assert {line["legend"]: line["values"][-1] for line in sla["series"]} == {
        "open": 1.0,
        "resolved": 1.0,
    }


# -- database and system -------------------------------------------------------------------


def test_it_shows_the_database_report(staff: Any) -> None:
    body = signed_in(staff).get("/monitoring/database/").content.decode()
    if connection.vendor == "postgresql":  # SQLite has no sessions to list
        assert "Long-running queries" in body
    assert "/api/v1/monitoring/database/" in body
    assert "helpdesk_tickets_ticket" in body or "tickets_ticket" in body  # a largest table


def test_it_shows_system_figures_against_their_limits(staff: Any, settings: Any) -> None:
    body = signed_in(staff).get("/monitoring/system/").content.decode()
    assert "CPU (" in body
    assert f"limit {settings.SYSTEM_MEMORY_THRESHOLD_PERCENT:.0f} %" in body
    assert system.level(50, 80) == "ok"
    assert system.level(75, 80) == "warn"
    assert system.level(81, 80) == "fail"


def test_it_lists_the_pages_charts_in_the_openapi_schema() -> None:
    schema = Client().get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/monitoring/console/charts/{name}/"]["get"]
    names = next(p for p in operation["parameters"] if p["name"] == "name")["schema"]["enum"]
    for prefix in ("database.", "system.", "security.", "business."):
        assert any(name.startswith(prefix) for name in names), prefix
    assert "/api/v1/monitoring/console/business/" in schema["paths"]


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n in charts.CHARTS
        if n.split(".")[0] in {"database", "system", "security", "business"}
    ),
)
def test_it_answers_every_chart_of_the_pages(name: str, staff: Any) -> None:
    response = signed_in(staff).get(f"/api/v1/monitoring/console/charts/{name}/?range=1h")
    assert response.status_code == 200
    assert response.json()["name"] == name


def test_it_writes_waits_as_people_read_them() -> None:
    assert business.duration(None) == "—"
    assert business.duration(45) == "45 s"
    assert business.duration(12 * 60 + 5) == "12 min"
    assert business.duration(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert business.duration(2 * 86400 + 4 * 3600 + 59) == "2 d 4 h"
