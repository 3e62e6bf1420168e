"""Request ids and the per-request context."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from helpdesk.lib import request_context

pytestmark = pytest.mark.django_db


def test_it_generates_a_request_id_and_echoes_it() -> None:
    response = Client().get("/api/v1/tickets/")
    rid = response["X-Request-ID"]
    assert len(rid) == 32
    assert Client().get("/api/v1/tickets/")["X-Request-ID"] != rid


def test_it_keeps_a_safe_client_request_id() -> None:
    response = Client().get("/api/v1/tickets/", HTTP_X_REQUEST_ID="abc-123.def:9")
    assert response["X-Request-ID"] == "abc-123.def:9"


@pytest.mark.parametrize("hostile", ["a\nb", "x" * 10_000, "<script>", "", "a b"])
def test_it_replaces_a_hostile_request_id(hostile: str) -> None:
    response = Client().get("/api/v1/tickets/", HTTP_X_REQUEST_ID=hostile)
    assert response["X-Request-ID"] != hostile
    assert len(response["X-Request-ID"]) == 32


def test_it_scopes_bound_fields_to_a_job() -> None:
    assert request_context.current() == {}
    with request_context.job_context("evaluate", rule="x") as ctx:
        request_context.bind(ticket_id=5)
        assert ctx["job"] == "evaluate"
        assert request_context.current()["ticket_id"] == 5
        assert len(ctx["run_id"]) == 32
    assert request_context.current() == {}


def test_it_clears_the_context_after_a_request(bob: Any) -> None:
    Client().get("/api/v1/tickets/")
    assert request_context.request_id() is None
