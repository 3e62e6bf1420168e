"""The error tracking staff API: access, projects and keys, issue filters, detail, events,
status changes, and its place in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test.utils import override_settings
from rest_framework.test import APIClient

from helpdesk.monitoring.errors import ingest
from helpdesk.monitoring.errors.models import ErrorIssue, Project, Status
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

BASE = "/api/v1/monitoring/errors"
TOKEN = "errors-api-monitoring-token-0123456789abcdef"


@pytest.fixture
def staff() -> Any:
    return get_user_model().objects.create_user("sam", password="x" * 20, is_staff=True)


@pytest.fixture
def web() -> Project:
    return Project.objects.create(name="Web", slug="web")


@pytest.fixture
def issues(web: Project) -> dict[str, ErrorIssue]:
    shop = Project.objects.create(name="Shop", slug="shop")
    ingest.ingest({"message": "checkout failed", "release": "1.0", "environment": "prod"}, web)
    for user in ("1", "2", "3"):
        ingest.ingest(
            {"message": "search slow", "level": "warning", "release": "1.1", "user": {"id": user}},
            web,
        )
    ingest.ingest({"message": "cart empty", "environment": "staging"}, shop)
    return {issue.title: issue for issue in ErrorIssue.objects.all()}


@pytest.mark.parametrize(
    "path",
    ["/issues/", "/projects/"],
)
def test_it_lets_only_staff_and_the_token_read(
    path: str, staff: Any, alice: Any, bob: Any, charlie: Any
) -> None:
    assert APIClient().get(BASE + path).status_code == 401
    for user in (alice, bob, charlie):  # owner, member, outsider: not staff
        assert client_for(user).get(BASE + path).status_code == 403
    assert client_for(staff).get(BASE + path).status_code == 200
    with override_settings(MONITORING_API_TOKEN=TOKEN):
        token = APIClient()
        token.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert token.get(BASE + path).status_code == 200


def test_the_token_cannot_change_anything(issues: dict[str, ErrorIssue], web: Project) -> None:
    issue = issues["checkout failed"]
    with override_settings(MONITORING_API_TOKEN=TOKEN):
        token = APIClient()
        token.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert (
            token.post(f"{BASE}/issues/{issue.pk}/status/", {"status": "resolved"}).status_code
            == 403
        )
        assert token.post(f"{BASE}/projects/{web.pk}/rotate-key/").status_code == 403
        assert token.post(f"{BASE}/projects/", {"name": "X", "slug": "x"}).status_code == 403


def test_members_cannot_change_anything(
    issues: dict[str, ErrorIssue], web: Project, alice: Any
) -> None:
    issue = issues["checkout failed"]
    client = client_for(alice)
    assert (
        client.post(f"{BASE}/issues/{issue.pk}/status/", {"status": "resolved"}).status_code == 403
    )
    assert client.post(f"{BASE}/projects/{web.pk}/rotate-key/").status_code == 403


def test_staff_create_projects_and_rotate_keys(staff: Any, org: Any) -> None:
    client = client_for(staff)
    created = client.post(
        f"{BASE}/projects/",
        {
            "name": "Acme web",
            "slug": "acme-web",
            "organization": org.pk,
            "allowed_origins": ["https://acme.example.org/"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["dsn"] == f"http://{body['public_key']}@testserver/{body['id']}"
    assert body["allowed_origins"] == ["https://acme.example.org"]
    rotated = client.post(f"{BASE}/projects/{body['id']}/rotate-key/").json()
    assert rotated["public_key"] != body["public_key"]
    assert Project.objects.get(pk=body["id"]).public_key == rotated["public_key"]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "A", "slug": "a", "allowed_origins": "https://x.org"},
        {"name": "A", "slug": "a", "allowed_origins": None},
        {"name": "A", "slug": "a", "allowed_origins": {"https://x.org": True}},
        {"name": "A", "slug": "a", "allowed_origins": [None]},
        {"name": "A", "slug": "a", "allowed_origins": ["https://x.org"] * 51},
        {"name": "A", "slug": "a", "allowed_origins": ["ftp://x.org"]},
        {"name": "A", "slug": "a", "allowed_origins": ["https://x.org/path"]},
        {"name": "A", "slug": "a", "public_key": "0" * 32},
        {"name": "A", "slug": "not a slug"},
    ],
)
def test_it_refuses_bad_project_input_with_field_errors(staff: Any, data: dict[str, Any]) -> None:
    response = client_for(staff).post(f"{BASE}/projects/", data, format="json")
    assert response.status_code == 400
    assert set(response.json()) & set(data)


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("", ["cart empty", "search slow", "checkout failed"]),
        ("?project=web", ["search slow", "checkout failed"]),
        ("?project=shop", ["cart empty"]),
        ("?level=warning", ["search slow"]),
        ("?release=1.0", ["checkout failed"]),
        ("?environment=staging", ["cart empty"]),
        ("?q=CHECKOUT", ["checkout failed"]),
        ("?status=resolved", []),
        ("?ordering=-event_count", ["search slow", "cart empty", "checkout failed"]),
        ("?ordering=-user_count&project=web", ["search slow", "checkout failed"]),
        ("?ordering=first_seen", ["checkout failed", "search slow", "cart empty"]),
        # Empty parameters are no filter and the default order.
        ("?ordering=&status=&level=", ["cart empty", "search slow", "checkout failed"]),
    ],
)
def test_it_filters_and_sorts_issues(
    staff: Any, issues: dict[str, ErrorIssue], query: str, titles: list[str]
) -> None:
    response = client_for(staff).get(f"{BASE}/issues/{query}")
    assert response.status_code == 200
    assert [row["title"] for row in response.json()["results"]] == titles


@pytest.mark.parametrize(
    "query", ["?status=open", "?level=loud", "?ordering=title", "?ordering=-id"]
)
def test_it_refuses_unknown_filters_with_400(staff: Any, query: str) -> None:
    assert client_for(staff).get(f"{BASE}/issues/{query}").status_code == 400


def test_issue_detail_has_the_latest_event_and_an_hourly_histogram(
    staff: Any, issues: dict[str, ErrorIssue]
) -> None:
    issue = issues["search slow"]
    body = client_for(staff).get(f"{BASE}/issues/{issue.pk}/?hours=6").json()
    assert body["event_count"] == 3 and body["user_count"] == 3
    assert body["latest_event"]["data"]["message"] == "search slow"
    assert len(body["histogram"]) == 6
    assert body["histogram"][-1]["count"] == 3
    assert sum(hour["count"] for hour in body["histogram"]) == 3
    assert client_for(staff).get(f"{BASE}/issues/{issue.pk}/?hours=0").status_code == 400
    assert client_for(staff).get(f"{BASE}/issues/999999/").status_code == 404


def test_it_lists_the_events_of_an_issue(staff: Any, issues: dict[str, ErrorIssue]) -> None:
    issue = issues["search slow"]
    body = client_for(staff).get(f"{BASE}/issues/{issue.pk}/events/").json()
    assert body["count"] == 3
    assert {row["level"] for row in body["results"]} == {"warning"}


def test_staff_resolve_ignore_and_reopen(
    staff: Any, issues: dict[str, ErrorIssue], web: Project
) -> None:
    issue = issues["checkout failed"]
    client = client_for(staff)
    url = f"{BASE}/issues/{issue.pk}/status/"
    body = client.post(url, {"status": "resolved_next_release"}, format="json").json()
    assert (body["status"], body["resolved_in_release"]) == ("resolved_next_release", "1.0")
    body = client.post(
        url, {"status": "ignored", "ignore_minutes": 60, "ignore_count": 5}, format="json"
    ).json()
    assert (
        body["status"] == "ignored" and body["ignored_until"] and body["ignored_until_count"] == 6
    )
    assert (
        client.post(url, {"status": "unresolved"}, format="json").json()["status"] == "unresolved"
    )
    assert client.post(url, {"status": "closed"}, format="json").status_code == 400
    assert (
        client.post(url, {"status": "resolved", "ignore_count": 3}, format="json").status_code
        == 400
    )
    assert client.post(url, {"status": "resolved", "extra": 1}, format="json").status_code == 400
    client.post(url, {"status": "resolved"}, format="json")
    assert ingest.ingest({"message": "checkout failed", "release": "1.2"}, web).regressed
    assert ErrorIssue.objects.get(pk=issue.pk).status == Status.UNRESOLVED


def test_the_api_is_in_the_openapi_schema(staff: Any) -> None:
    schema = client_for(staff).get("/api/v1/schema/?format=json").json()
    for path in (
        "issues/",
        "issues/{id}/",
        "issues/{id}/events/",
        "issues/{id}/status/",
        "projects/",
        "projects/{id}/rotate-key/",
    ):
        assert f"{BASE}/{path}" in schema["paths"], path


def test_staff_rotate_keys_in_the_admin(staff: Any, web: Project) -> None:
    from django.test import Client

    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    old = web.public_key
    assert client.get("/admin/errors/project/").status_code == 200
    response = client.post(
        "/admin/errors/project/",
        {"action": "rotate_keys", "_selected_action": [web.pk]},
    )
    assert response.status_code == 302
    web.refresh_from_db()
    assert web.public_key != old
