"""Demo data loads once and looks like a real helpdesk."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db.models import Count, F

from helpdesk.accounts.models import Membership, Organization
from helpdesk.monitoring.security.models import SecurityEvent
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
