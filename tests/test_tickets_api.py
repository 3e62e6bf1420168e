"""Tickets API: tenant isolation for every endpoint, listing, filters and writes."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk.tickets.models import Comment, Ticket, TicketEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_it_requires_authentication(make_ticket: Any) -> None:
    ticket = make_ticket()
    anonymous = client_for(None)
    for method, url in [
        ("get", "/api/v1/tickets/"),
        ("post", "/api/v1/tickets/"),
        ("get", f"/api/v1/tickets/{ticket.pk}/"),
        ("patch", f"/api/v1/tickets/{ticket.pk}/"),
        ("post", f"/api/v1/tickets/{ticket.pk}/transition/"),
        ("get", f"/api/v1/tickets/{ticket.pk}/comments/"),
        ("post", f"/api/v1/tickets/{ticket.pk}/comments/"),
    ]:
        response = getattr(anonymous, method)(url, {}, format="json")
        assert response.status_code == 401, (method, url)
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_rejects_an_unknown_token() -> None:
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Bearer hdk_not-a-real-token")
    assert client.get("/api/v1/tickets/").status_code == 401


def test_it_lists_the_organizations_tickets_to_staff(
    make_ticket: Any, alice: Any, bob: Any, charlie: Any
) -> None:
    ticket = make_ticket()
    for user, expected in [(alice, [ticket.pk]), (bob, [ticket.pk]), (charlie, [])]:
        response = client_for(user).get("/api/v1/tickets/")
        assert response.status_code == 200
        assert [t["id"] for t in response.json()["results"]] == expected, user.username


def test_it_shows_customers_only_their_own_tickets(make_ticket: Any, carol: Any, dave: Any) -> None:
    mine = make_ticket(requester=carol)
    theirs = make_ticket(requester=dave)
    client = client_for(carol)
    assert [t["id"] for t in client.get("/api/v1/tickets/").json()["results"]] == [mine.pk]
    assert client.get(f"/api/v1/tickets/{theirs.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"subject": "hijacked"}),
        ("put", "", {"subject": "hijacked"}),
        ("post", "transition/", {"status": "open"}),
        ("get", "comments/", None),
        ("post", "comments/", {"body": "hello"}),
    ],
)
def test_it_answers_404_for_another_tenants_ticket(
    make_ticket: Any, charlie: Any, method: str, suffix: str, body: Any
) -> None:
    ticket = make_ticket()
    response = getattr(client_for(charlie), method)(
        f"/api/v1/tickets/{ticket.pk}/{suffix}", body, format="json"
    )
    assert response.status_code == 404
    ticket.refresh_from_db()
    assert ticket.subject == "Printer on fire"
    assert ticket.status == "new"
    assert not Comment.objects.filter(ticket=ticket).exists()


def test_it_lets_staff_create_a_ticket_with_sla(org: Any, bob: Any, carol: Any) -> None:
    response = client_for(bob).post(
        "/api/v1/tickets/",
        {"subject": "VPN down", "priority": "urgent", "requester": carol.pk, "assignee": bob.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "new"
    assert data["organization"] == org.pk
    assert data["requester"] == carol.pk
    ticket = Ticket.objects.get(pk=data["id"])
    assert (ticket.sla_due_at - ticket.created_at).total_seconds() == 4 * 3600
    kinds = list(ticket.events.values_list("kind", flat=True))
    assert kinds == ["created", "assigned"]


def test_it_makes_customers_the_requester_of_their_tickets(carol: Any, dave: Any) -> None:
    client = client_for(carol)
    response = client.post("/api/v1/tickets/", {"subject": "Help"}, format="json")
    assert response.status_code == 201
    assert response.json()["requester"] == carol.pk
    response = client.post(
        "/api/v1/tickets/", {"subject": "Help", "requester": dave.pk}, format="json"
    )
    assert response.status_code == 400
    assert "requester" in response.json()


def test_it_refuses_an_assignee_from_another_organization(bob: Any, charlie: Any) -> None:
    response = client_for(bob).post(
        "/api/v1/tickets/", {"subject": "x", "assignee": charlie.pk}, format="json"
    )
    assert response.status_code == 400
    assert "assignee" in response.json()
    assert not Ticket.objects.exists()
    assert not TicketEvent.objects.exists()


def test_it_refuses_creating_in_an_organization_you_are_not_in(bob: Any, other_org: Any) -> None:
    response = client_for(bob).post(
        "/api/v1/tickets/", {"subject": "x", "organization": other_org.pk}, format="json"
    )
    assert response.status_code == 400
    assert "organization" in response.json()


def test_it_lets_only_staff_edit_tickets(make_ticket: Any, bob: Any, carol: Any) -> None:
    ticket = make_ticket()
    response = client_for(carol).patch(
        f"/api/v1/tickets/{ticket.pk}/", {"priority": "urgent"}, format="json"
    )
    assert response.status_code == 403
    response = client_for(bob).patch(
        f"/api/v1/tickets/{ticket.pk}/", {"priority": "urgent", "assignee": bob.pk}, format="json"
    )
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.priority == "urgent"
    assert ticket.assignee == bob
    assert (ticket.sla_due_at - ticket.created_at).total_seconds() == 4 * 3600


def test_it_never_moves_a_ticket_to_another_tenant_or_requester(
    make_ticket: Any, bob: Any, other_org: Any, charlie: Any
) -> None:
    ticket = make_ticket()
    before = (ticket.organization_id, ticket.requester_id, ticket.subject)
    client = client_for(bob)
    for change in ({"organization": other_org.pk}, {"requester": charlie.pk}):
        for method in (client.patch, client.put):
            body = {"subject": "Moved", **change}
            response = method(f"/api/v1/tickets/{ticket.pk}/", body, format="json")
            assert response.status_code == 400, (method, change)
            assert set(response.json()) == set(change)
    ticket.refresh_from_db()
    assert (ticket.organization_id, ticket.requester_id, ticket.subject) == before


def test_it_filters_searches_orders_and_paginates(make_ticket: Any, bob: Any) -> None:
    make_ticket(subject="Alpha printer", priority="low")
    urgent = make_ticket(subject="Beta scanner", priority="urgent", assignee=bob)
    make_ticket(subject="Gamma printer", priority="high")
    client = client_for(bob)

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/tickets/?{query}")
        assert response.status_code == 200, response.json()
        return [t["id"] for t in response.json()["results"]]

    assert ids("priority=urgent") == [urgent.pk]
    assert ids(f"assignee={bob.pk}") == [urgent.pk]
    assert len(ids("search=printer")) == 2
    assert ids("ordering=created_at")[0] < ids("ordering=-created_at")[0]
    page = client.get("/api/v1/tickets/?page_size=2").json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"] is not None
    assert len(ids("created_after=2000-01-01T00:00:00Z")) == 3
    assert ids("created_before=2000-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    "query", ["status=bogus", "priority=x", "created_after=yesterday", "assignee=abc"]
)
def test_it_answers_400_for_bad_filter_values(bob: Any, query: str) -> None:
    response = client_for(bob).get(f"/api/v1/tickets/?{query}")
    assert response.status_code == 400
    assert query.split("=", maxsplit=1)[0] in response.json()


def test_it_hides_internal_comments_from_customers(make_ticket: Any, bob: Any, carol: Any) -> None:
    ticket = make_ticket()
    staff = client_for(bob)
    assert (
        staff.post(
            f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "secret note", "public": False}
        ).status_code
        == 201
    )
    assert staff.post(f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "hi"}).status_code == 201
    customer = client_for(carol)
    bodies = [
        c["body"] for c in customer.get(f"/api/v1/tickets/{ticket.pk}/comments/").json()["results"]
    ]
    assert bodies == ["hi"]
    assert len(staff.get(f"/api/v1/tickets/{ticket.pk}/comments/").json()["results"]) == 2
    response = customer.post(
        f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "x", "public": False}
    )
    assert response.status_code == 400
    assert "public" in response.json()


def test_it_sets_first_response_on_the_first_public_agent_comment(
    make_ticket: Any, bob: Any, carol: Any
) -> None:
    ticket = make_ticket()
    client_for(carol).post(f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "any news?"})
    client_for(bob).post(
        f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "internal", "public": False}
    )
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    client_for(bob).post(f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "on it"})
    ticket.refresh_from_db()
    first = ticket.first_response_at
    assert first is not None
    client_for(bob).post(f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "again"})
    ticket.refresh_from_db()
    assert ticket.first_response_at == first
