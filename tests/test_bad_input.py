"""Bad input gets a clear 4xx, never a 500 or a partial write."""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

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


# --- numbers, dates and nesting the database or the parser cannot hold ----------------------

TOO_BIG = "99999999999999999999"


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("sam", password="x-Secret-99", is_staff=True)


@pytest.mark.parametrize("endpoint", ["list", "detail", "comments"])
def test_it_answers_400_for_an_id_filter_beyond_64_bits(
    make_ticket: Any, bob: Any, endpoint: str
) -> None:
    ticket = make_ticket()
    path = {
        "list": "/api/v1/tickets/",
        "detail": f"/api/v1/tickets/{ticket.pk}/",
        "comments": f"/api/v1/tickets/{ticket.pk}/comments/",
    }[endpoint]
    client = client_for(bob)
    for name, value in [
        ("assignee", TOO_BIG),
        ("requester", TOO_BIG),
        ("organization", TOO_BIG),
        ("assignee", "9223372036854775808"),
        ("assignee", "1e30"),
        ("assignee", "1.5"),
    ]:
        response = client.get(path, {name: value})
        assert response.status_code == 400, (name, value)
        assert name in response.json()


@pytest.mark.parametrize(
    "path", [f"/api/v1/tickets/{TOO_BIG}/", f"/api/v1/monitoring/alerts/{TOO_BIG}/"]
)
def test_it_answers_404_for_an_id_in_the_path_beyond_64_bits(staff: Any, path: str) -> None:
    assert client_for(staff).get(path).status_code == 404


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/tickets/", "created_after"),
        ("/api/v1/tickets/", "created_before"),
        ("/api/v1/monitoring/security/events/", "since"),
        ("/api/v1/monitoring/security/events/", "until"),
        ("/api/v1/monitoring/alerts/", "since"),
    ],
)
def test_it_answers_400_for_a_date_out_of_range_in_utc(
    staff: Any, bob: Any, path: str, name: str
) -> None:
    client = client_for(bob if path.startswith("/api/v1/tickets/") else staff)
    for value in ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-13-01T00:00Z"]:
        response = client.get(path, {name: value})
        assert response.status_code == 400, value
        assert name in response.json()


def test_it_matches_no_user_for_odd_user_ids_in_security_events(staff: Any) -> None:
    for user in [TOO_BIG, "\u00b2"]:  # beyond 64 bits; a digit int() refuses
        response = client_for(staff).get("/api/v1/monitoring/security/events/", {"user": user})
        assert response.status_code == 200
        assert response.json()["results"] == []


@pytest.mark.parametrize(
    "body",
    [
        '{"subject": "a", "organization": 1e400}',
        '{"subject": "a", "organization": -1e400}',
        '{"subject": "a", "organization": NaN}',
        '{"subject": "a", "organization": Infinity}',
        '{"subject": "\\ud800"}',
    ],
)
def test_it_answers_400_for_json_it_cannot_carry(bob: Any, body: str) -> None:
    response = client_for(bob).generic(
        "POST", "/api/v1/tickets/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    "body", ["[" * 100_000, "[" * 33 + "]" * 33, '{"a":' * 40 + "1" + "}" * 40]
)
def test_it_answers_400_for_json_nested_too_deep(bob: Any, body: str) -> None:
    response = client_for(bob).generic(
        "POST", "/api/v1/tickets/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_it_accepts_json_nested_as_deep_as_allowed(bob: Any) -> None:
    body = '{"subject": "a", "description": "b", "x": ' + "[" * 31 + "]" * 31 + "}"
    response = client_for(bob).generic(
        "POST", "/api/v1/tickets/", body, content_type="application/json"
    )
    # Parsed, then refused by the serializer for the unknown field: not a parse error.
    assert response.status_code == 400
    assert set(response.json()) == {"x"}


@pytest.mark.parametrize("field", ["organization", "requester", "assignee"])
def test_it_refuses_ids_that_are_not_whole_numbers_in_range(bob: Any, org: Any, field: str) -> None:
    client = client_for(bob)
    valid = org.pk if field == "organization" else bob.pk
    # valid + 0.5 used to be truncated to the valid id and accepted.
    for value in [valid + 0.5, True, "1e3", 0, 2**63]:
        body = {"subject": "a", "organization": org.pk, field: value}
        response = client.post("/api/v1/tickets/", body, format="json")
        assert response.status_code == 400, value
        assert field in response.json()
    assert not Ticket.objects.exists()


def test_it_answers_a_patch_with_every_field_of_the_schema(make_ticket: Any, bob: Any) -> None:
    ticket = make_ticket()
    response = client_for(bob).patch(
        f"/api/v1/tickets/{ticket.pk}/", {"priority": "high"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["assignee_name"] is None
    assert set(body) == set(client_for(bob).get(f"/api/v1/tickets/{ticket.pk}/").json())


def test_it_says_an_open_ticket(make_ticket: Any, bob: Any) -> None:
    ticket = make_ticket()
    client = client_for(bob)
    client.post(f"/api/v1/tickets/{ticket.pk}/transition/", {"status": "open"}, format="json")
    response = client.post(
        f"/api/v1/tickets/{ticket.pk}/transition/", {"status": "closed"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["status"] == ["Cannot move an open ticket to closed."]


@pytest.mark.parametrize("query", ["page_size=0", "page_size=null", "page_size=", "page_size=1.5"])
def test_it_answers_400_for_a_page_size_that_is_not_a_positive_integer(
    bob: Any, query: str
) -> None:
    response = client_for(bob).get(f"/api/v1/tickets/?{query}")
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_it_caps_a_large_page_size(make_ticket: Any, bob: Any) -> None:
    make_ticket()
    response = client_for(bob).get(f"/api/v1/tickets/?page_size={TOO_BIG}")
    assert response.status_code == 200


# --- chunked bodies: the limit holds on the bytes actually read ----------------------------


def _post_chunked(user: Any, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to the WSGI application as gunicorn passes a chunked request."""
    from helpdesk.accounts.models import ApiToken
    from helpdesk.wsgi import application

    _, raw = ApiToken.issue(user)
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.pop("CONTENT_LENGTH", None)
    environ.update(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/tickets/",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "HTTP_AUTHORIZATION": f"Bearer {raw}",
            "wsgi.input": io.BytesIO(body),
        }
    )
    statuses: list[str] = []
    chunks = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
    content = b"".join(chunks)
    return int(statuses[0].split()[0]), json.loads(content)


@pytest.mark.django_db(transaction=True)  # the WSGI handler closes the connection when done
def test_it_answers_413_for_a_chunked_body_over_the_limit(bob: Any) -> None:
    big = b'{"subject": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    status, body = _post_chunked(bob, big)
    assert status == 413
    assert "limit" in body["detail"]
    assert not Ticket.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_reads_a_chunked_body_under_the_limit(bob: Any) -> None:
    status, body = _post_chunked(bob, b'{"subject": "Sent in chunks"}')
    assert status == 201
    assert body["subject"] == "Sent in chunks"


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "a\\u0000"}}]}',
    ],
)
def test_it_answers_400_for_webhook_json_it_cannot_carry(settings: Any, raw: bytes) -> None:
    settings.ALERTMANAGER_WEBHOOK_TOKEN = "a" * 40
    response = Client().post(
        "/api/v1/monitoring/alerts/alertmanager/",
        raw,
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer " + "a" * 40,
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_it_takes_json_only(bob: Any) -> None:
    response = client_for(bob).post("/api/v1/tickets/", {"subject": "a"}, format="multipart")
    assert response.status_code == 415


def test_it_names_the_search_parameter_for_a_nul_character(bob: Any) -> None:
    response = client_for(bob).get("/api/v1/tickets/", {"search": "a\x00b"})
    assert response.status_code == 400
    assert response.json() == {"search": ["Null characters are not allowed."]}


def test_it_reads_an_empty_ip_or_user_filter_as_no_filter(staff: Any) -> None:
    client = client_for(staff)
    response = client.get("/api/v1/monitoring/security/events/?ip=&user=")
    assert response.status_code == 200
    # An empty date-time is not a date-time.
    assert client.get("/api/v1/monitoring/alerts/?since=").status_code == 400
