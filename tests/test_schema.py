"""The OpenAPI schema validates and the docs page serves without a CDN."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_it_serves_a_valid_openapi_3_schema() -> None:
    response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    validate(schema)
    assert "/api/v1/tickets/{id}/transition/" in schema["paths"]


def test_it_serves_the_docs_page_from_local_static_files(bob: Any) -> None:
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "swagger" in body.lower()
    assert "cdn." not in body


def _schema() -> dict[str, Any]:
    return json.loads(Client().get("/api/v1/schema/?format=json").content)


def test_it_documents_the_error_answers_of_every_operation() -> None:
    schema = _schema()
    error = {"$ref": "#/components/schemas/Error"}
    field_errors = {"$ref": "#/components/schemas/FieldErrors"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]
    operations = schema["paths"]["/api/v1/tickets/{id}/"]
    patch = operations["patch"]["responses"]
    assert patch["400"]["content"]["application/json"]["schema"] == field_errors
    for status in ("401", "403", "404", "413", "429"):
        assert patch[status]["content"]["application/json"]["schema"] == error, status
    assert "Retry-After" in patch["429"]["headers"]
    listing = schema["paths"]["/api/v1/tickets/"]["get"]["responses"]
    assert {"400", "401", "403", "404", "413", "429"} <= set(listing)
    token = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert {"400", "413", "429"} <= set(token)
    assert "401" not in token  # anyone may ask for a token
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            assert {"400", "413", "429"} <= set(operation["responses"]), (method, path)


def test_it_closes_the_request_bodies_that_refuse_unknown_fields() -> None:
    schemas = _schema()["components"]["schemas"]
    assert schemas["TicketCreateRequest"]["additionalProperties"] is False
    assert schemas["PatchedTicketUpdateRequest"]["additionalProperties"] is False
    assert schemas["CommentRequest"]["additionalProperties"] is False
    organization = schemas["TicketCreateRequest"]["properties"]["organization"]
    assert organization["type"] == "integer"
    assert organization["minimum"] == 1
