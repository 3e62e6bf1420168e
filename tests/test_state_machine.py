"""The ticket state machine and its event trail."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk.tickets.states import TRANSITIONS, Status, allowed_transitions
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def move(client: Any, ticket: Any, status: str) -> Any:
    return client.post(f"/api/v1/tickets/{ticket.pk}/transition/", {"status": status})


def test_it_closes_only_from_resolved() -> None:
    sources = [s for s, targets in TRANSITIONS.items() if Status.CLOSED in targets]
    assert sources == [Status.RESOLVED]


def test_it_walks_a_ticket_through_its_life(make_ticket: Any, bob: Any) -> None:
    ticket = make_ticket()
    client = client_for(bob)
    for status in ["open", "pending", "open", "resolved", "closed", "open", "resolved"]:
        response = move(client, ticket, status)
        assert response.status_code == 200, (status, response.json())
        assert response.json()["status"] == status
    ticket.refresh_from_db()
    assert ticket.resolved_at is not None
    assert ticket.closed_at is None  # reopening cleared it
    trail = list(ticket.events.filter(kind="status_changed").values_list("from_value", "to_value"))
    assert trail == [
        ("new", "open"),
        ("open", "pending"),
        ("pending", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
        ("closed", "open"),
        ("open", "resolved"),
    ]
    assert all(e.actor_id == bob.pk for e in ticket.events.filter(kind="status_changed"))


def test_it_refuses_an_invalid_transition_naming_the_allowed_ones(
    make_ticket: Any, bob: Any
) -> None:
    ticket = make_ticket()
    response = move(client_for(bob), ticket, "closed")
    assert response.status_code == 400
    body = response.json()
    assert "status" in body
    assert body["allowed_transitions"] == ["open", "pending", "resolved"]
    ticket.refresh_from_db()
    assert ticket.status == "new"
    assert not ticket.events.filter(kind="status_changed").exists()


def test_it_refuses_an_unknown_status(make_ticket: Any, bob: Any) -> None:
    response = move(client_for(bob), make_ticket(), "exploded")
    assert response.status_code == 400
    assert "status" in response.json()


def test_it_routes_a_status_in_patch_through_the_state_machine(make_ticket: Any, bob: Any) -> None:
    ticket = make_ticket()
    client = client_for(bob)
    response = client.patch(
        f"/api/v1/tickets/{ticket.pk}/", {"status": "closed", "subject": "new"}, format="json"
    )
    assert response.status_code == 400
    ticket.refresh_from_db()
    assert (ticket.status, ticket.subject) == ("new", "Printer on fire")  # nothing half-written
    response = client.patch(f"/api/v1/tickets/{ticket.pk}/", {"status": "open"}, format="json")
    assert response.status_code == 200
    assert ticket.events.filter(kind="status_changed", to_value="open").count() == 1


def test_it_lets_customers_only_reopen_or_close_resolved_tickets(
    make_ticket: Any, bob: Any, carol: Any
) -> None:
    ticket = make_ticket()
    customer = client_for(carol)
    response = move(customer, ticket, "resolved")
    assert response.status_code == 400
    assert response.json()["allowed_transitions"] == []
    assert move(client_for(bob), ticket, "resolved").status_code == 200
    assert customer.get(f"/api/v1/tickets/{ticket.pk}/").json()["allowed_transitions"] == [
        "open",
        "closed",
    ]
    assert move(customer, ticket, "closed").status_code == 200


def test_it_exposes_the_same_table_it_enforces() -> None:
    for status in Status:
        assert set(allowed_transitions(status)) <= set(Status)
