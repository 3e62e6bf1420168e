"""Token exchange and revocation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from helpdesk.accounts.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def exchange(username: str, password: str) -> Any:
    return APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_it_exchanges_credentials_for_a_token_and_stores_only_its_hash(bob: Any) -> None:
    response = exchange("bob", "correct horse battery")
    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("hdk_")
    stored = ApiToken.objects.get(user=bob)
    assert stored.key_hash == hash_token(raw)
    assert raw not in {stored.key_hash, stored.key_prefix}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/tickets/").status_code == 200


def test_it_refuses_wrong_credentials_without_saying_which(bob: Any) -> None:
    wrong_password = exchange("bob", "nope")
    unknown_user = exchange("nobody", "nope")
    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.json() == unknown_user.json()
    assert not ApiToken.objects.exists()


def test_it_answers_400_for_missing_fields() -> None:
    response = APIClient().post("/api/v1/auth/token/", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_it_revokes_the_presented_token(bob: Any) -> None:
    raw = exchange("bob", "correct horse battery").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get("/api/v1/tickets/").status_code == 401


def test_it_needs_authentication_to_revoke() -> None:
    assert APIClient().delete("/api/v1/auth/token/").status_code == 401


def test_it_refuses_expired_tokens_and_inactive_users(bob: Any) -> None:
    token, raw = ApiToken.issue(bob)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/tickets/").status_code == 200
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    assert client.get("/api/v1/tickets/").status_code == 401
    token.expires_at = None
    token.save()
    bob.is_active = False
    bob.save()
    assert client.get("/api/v1/tickets/").status_code == 401


def test_it_stamps_last_use_at_most_every_five_minutes_and_expires_on_the_second(
    bob: Any,
) -> None:
    token, raw = ApiToken.issue(bob)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/tickets/").status_code == 200
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    assert client.get("/api/v1/tickets/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == first  # a read stays a read
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=6))
    assert client.get("/api/v1/tickets/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at > first
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(seconds=30))
    assert client.get("/api/v1/tickets/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    assert client.get("/api/v1/tickets/").status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer \xff"])
def test_it_answers_401_for_malformed_authorization(header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/tickets/").status_code == 401


def test_it_accepts_session_authentication(bob: Any) -> None:
    client = APIClient()
    client.force_login(bob)
    assert client.get("/api/v1/tickets/").status_code == 200
