"""The ticket API's list and detail endpoints run a fixed number of queries, whatever the
page holds, and the ticket serializer's fast representation equals DRF's field by field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from helpdesk.tickets import services
from helpdesk.tickets.models import Ticket
from tests.conftest import client_for

# token (with its user), memberships, count, page
LIST_QUERIES = 4
# token, memberships, the ticket (with organization, requester, assignee)
DETAIL_QUERIES = 3
# token, memberships, the ticket, count, page of comments (with authors)
COMMENTS_QUERIES = 5


@pytest.fixture
def tickets(make_ticket: Any, alice: Any, bob: Any, dave: Any) -> list[Ticket]:
    made = [make_ticket(subject=f"Printer {i}", assignee=bob if i % 2 else None) for i in range(6)]
    made.append(make_ticket(subject="Dave's", requester=dave, priority="urgent"))
    access = services.access_for(alice)
    services.add_comment(made[0], alice, access, "On it.", True)
    services.add_comment(made[0], bob, services.access_for(bob), "Internal.", False)
    services.transition(made[1], alice, access, "resolved")
    return made


def _warm(client: APIClient) -> APIClient:
    # The first request with a token records its use (one UPDATE every few minutes).
    assert client.get("/api/v1/tickets/?page_size=1").status_code == 200
    return client


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?page_size=2&page=2",
        "?status=new&status=resolved&priority=normal",
        "?unassigned=true&ordering=-updated_at",
        "?search=printer&created_after=2020-01-01T00:00:00Z",
    ],
)
@pytest.mark.parametrize("who", ["bob", "carol"])
def test_it_lists_tickets_in_a_fixed_number_of_queries(
    tickets: list[Ticket],
    who: str,
    query: str,
    request: pytest.FixtureRequest,
    django_assert_num_queries: Any,
) -> None:
    client = _warm(client_for(request.getfixturevalue(who)))
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(f"/api/v1/tickets/{query}")
    assert response.status_code == 200
    assert response.json()["results"]


@pytest.mark.parametrize("who", ["alice", "bob", "carol"])
def test_it_shows_a_ticket_in_a_fixed_number_of_queries(
    tickets: list[Ticket],
    who: str,
    request: pytest.FixtureRequest,
    django_assert_num_queries: Any,
) -> None:
    client = _warm(client_for(request.getfixturevalue(who)))
    for ticket in tickets[:2]:
        with django_assert_num_queries(DETAIL_QUERIES):
            response = client.get(f"/api/v1/tickets/{ticket.pk}/")
        assert response.status_code == 200


def test_it_lists_comments_in_a_fixed_number_of_queries(
    tickets: list[Ticket], bob: Any, django_assert_num_queries: Any
) -> None:
    client = _warm(client_for(bob))
    with django_assert_num_queries(COMMENTS_QUERIES):
        response = client.get(f"/api/v1/tickets/{tickets[0].pk}/comments/")
    assert response.json()["count"] == 2


def test_it_still_filters_a_detail_given_query_parameters(tickets: list[Ticket], bob: Any) -> None:
    client = client_for(bob)
    url = f"/api/v1/tickets/{tickets[0].pk}/"
    assert client.get(url, {"status": "closed"}).status_code == 404
    assert client.get(url, {"status": "new"}).status_code == 200
    assert client.get(url, {"status": "nonsense"}).status_code == 400


@pytest.mark.parametrize(
    "serializer_name", ["TicketSerializer", "TicketCreateSerializer", "TicketUpdateSerializer"]
)
@pytest.mark.parametrize("who", ["alice", "carol"])
def test_it_represents_a_ticket_as_the_declared_fields_do(
    tickets: list[Ticket],
    serializer_name: str,
    who: str,
    request: pytest.FixtureRequest,
    settings: Any,
) -> None:
    # Imported here: DRF's settings import helpdesk.lib.api, which imports DRF's views.
    from helpdesk.tickets import serializers as ticket_serializers

    serializer_class = getattr(ticket_serializers, serializer_name)
    Ticket.objects.filter(pk=tickets[2].pk).update(sla_due_at=None)
    Ticket.objects.filter(pk=tickets[3].pk).update(sla_due_at=timezone.now() - timedelta(hours=1))
    user = request.getfixturevalue(who)
    context = {"access": services.access_for(user), "now": timezone.now()}
    rows = services.visible_tickets(user).order_by("pk")
    for time_zone in ("UTC", "Europe/Paris"):
        settings.TIME_ZONE = time_zone
        with timezone.override(time_zone):
            for ticket in rows:
                serializer = serializer_class(ticket, context=context)
                fast = serializer.to_representation(ticket)
                generic = serializers.ModelSerializer.to_representation(serializer, ticket)
                assert list(fast.items()) == list(generic.items())
