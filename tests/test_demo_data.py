"""Demo data loads once and looks like a real helpdesk."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.db.models import Count, F

from helpdesk.accounts.models import Membership, Organization
from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator
from helpdesk.monitoring.alerting.models import Alert
from helpdesk.monitoring.alerting.rules import default_rules
from helpdesk.monitoring.security.models import SecurityEvent
from helpdesk.monitoring.slo.embedded import EmbeddedCounts
from helpdesk.monitoring.slo.report import status
from helpdesk.monitoring.slo.spec import slos
from helpdesk.tickets.models import Comment, Ticket, TicketEvent

pytestmark = pytest.mark.django_db


def test_it_loads_demo_data_idempotently() -> None:
    call_command("seed_demo", tickets=300)
    call_command("seed_demo", tickets=300)
    assert Organization.objects.count() == 3
    assert Ticket.objects.count() == 300
    statuses = set(Ticket.objects.values_list("status", flat=True))
    assert statuses == {"new", "open", "pending", "resolved", "closed"}
    assert set(Ticket.objects.values_list("priority", flat=True)) == {
        "low",
        "normal",
        "high",
        "urgent",
    }
    assert Ticket.objects.filter(resolved_at__gt=F("sla_due_at")).exists()
    assert Comment.objects.filter(public=False).exists()
    assert TicketEvent.objects.filter(kind="status_changed").exists()
    per_org = Ticket.objects.values("organization").annotate(n=Count("id"))
    assert all(row["n"] == 100 for row in per_org)
    assert Membership.objects.filter(role="admin").count() == 3
    # Seeding is nobody's role change: no audit events.
    assert not SecurityEvent.objects.filter(action="authz_change").exists()


def test_it_creates_one_admin_once(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("bootstrap_admin")
    first = capsys.readouterr().out
    assert "password" in first
    call_command("bootstrap_admin")
    assert "not shown again" in capsys.readouterr().out


def test_it_keeps_the_first_response_slo_healthy() -> None:
    call_command("seed_demo")
    first_response = next(slo for slo in slos() if slo.name == "first_response")
    now = time.time()
    figures = status(first_response, EmbeddedCounts(), now)
    # Most tickets were answered within policy, a few were not: well within the objective.
    assert figures.total > 300
    assert figures.sli is not None and figures.sli > first_response.objective
    assert figures.budget_remaining > 0.5
    assert not any(alert["firing"] for alert in figures.alerts)
    # The embedded evaluator, past the alert's `for`, fires nothing on it either.
    clock = [now]
    rules = [
        rule
        for rule in default_rules()
        if rule.name == "ErrorBudgetBurn" and rule.static_labels["slo"] == "first_response"
    ]
    assert len(rules) == 4
    evaluator = Evaluator(rules, DatabaseSink(), clock=lambda: clock[0])
    for _ in range(3):
        evaluator.evaluate()
        clock[0] += 120
    assert not Alert.objects.filter(name="ErrorBudgetBurn").exists()
