"""Bad input gets a clear 4xx, never a 500 or a partial write."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from helpdesk.tickets.models import Ticket, TicketEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_it_answers_400_for_malformed_json(bob: Any) -> None:
    response = client_for(bob).generic(
        "POST", "/api/v1/tickets/", '{"subject": "x",', content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_it_answers_400_for_unknown_fields(bob: Any) -> None:
    response = client_for(bob).post(
        "/api/v1/tickets/", {"subject": "x", "severity": "high", "id": 5}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"severity", "id"}
    assert not Ticket.objects.exists()


def test_it_answers_400_with_field_errors(bob: Any) -> None:
    response = client_for(bob).post(
        "/api/v1/tickets/",
        {"subject": "", "priority": "whenever", "channel": 3, "assignee": 999999},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"subject", "priority", "channel", "assignee"}


def test_it_answers_400_for_a_non_object_body(bob: Any) -> None:
    response = client_for(bob).post("/api/v1/tickets/", ["x"], format="json")
    assert response.status_code == 400


def test_it_answers_413_for_a_body_over_the_limit(bob: Any, settings: Any) -> None:
    big = '{"subject": "' + "x" * (1024 * 1024 + 10) + '"}'
    response = client_for(bob).generic(
        "POST", "/api/v1/tickets/", big, content_type="application/json"
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert not Ticket.objects.exists()


def test_it_answers_413_when_a_body_without_length_is_too_big(bob: Any, settings: Any) -> None:
    # Without Content-Length the middleware cannot refuse early; Django's read limit applies.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    client = client_for(bob)
    response = client.generic(
        "POST",
        "/api/v1/tickets/",
        '{"subject": "' + "x" * 500 + '"}',
        content_type="application/json",
        CONTENT_LENGTH="",
    )
    assert response.status_code in (400, 413)
    assert response.status_code != 500


def test_it_answers_400_for_a_non_numeric_content_length(bob: Any) -> None:
    response = Client().generic(
        "POST", "/api/v1/tickets/", "{}", content_type="application/json", CONTENT_LENGTH="abc"
    )
    assert response.status_code == 400


def test_it_answers_json_404_for_unknown_api_paths(bob: Any) -> None:
    response = client_for(bob).get("/api/v1/nothing-here/?token=secret")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert "secret" not in response.content.decode()


def test_it_answers_404_for_a_non_numeric_ticket_id(bob: Any) -> None:
    assert client_for(bob).get("/api/v1/tickets/abc/").status_code == 404


def test_it_leaves_nothing_half_written_when_a_comment_fails(make_ticket: Any, carol: Any) -> None:
    ticket = make_ticket()
    before = TicketEvent.objects.count()
    response = client_for(carol).post(
        f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "x", "public": False}, format="json"
    )
    assert response.status_code == 400
    assert TicketEvent.objects.count() == before
    assert not ticket.comments.exists()


def test_it_refuses_blank_comments(make_ticket: Any, bob: Any) -> None:
    ticket = make_ticket()
    response = client_for(bob).post(
        f"/api/v1/tickets/{ticket.pk}/comments/", {"body": "   "}, format="json"
    )
    assert response.status_code == 400
    assert "body" in response.json()
