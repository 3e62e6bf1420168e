"""Monitoring data is for staff and holders of the monitoring token only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from helpdesk.accounts.models import ApiToken
from helpdesk.monitoring.access import (
    MONITORING_AUTHENTICATION,
    IsMonitoringReader,
    bearer_matches,
    is_monitoring_reader,
)

pytestmark = pytest.mark.django_db
TOKEN = "m" * 40


class ProbeView(APIView):
    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsMonitoringReader]

    def get(self, request: Any) -> Response:
        return Response({"ok": True})


def call(header: str | None = None, user: Any = None) -> int:
    factory = APIRequestFactory()
    request = factory.get("/x", HTTP_AUTHORIZATION=header) if header else factory.get("/x")
    if user is not None:
        from rest_framework.test import force_authenticate

        force_authenticate(request, user=user)
    return ProbeView.as_view()(request).status_code


@pytest.fixture(autouse=True)
def _token(settings: Any) -> None:
    settings.MONITORING_API_TOKEN = TOKEN


def test_it_lets_the_monitoring_token_in() -> None:
    assert call(f"Bearer {TOKEN}") == 200


def test_it_answers_401_without_credentials_and_for_a_wrong_token() -> None:
    assert call() == 401
    assert call("Bearer wrong") == 401


def test_it_refuses_non_staff_users(alice: Any, bob: Any, charlie: Any) -> None:
    # Organization admins run a tenant, not the platform: monitoring is for platform staff.
    for user in (alice, bob, charlie):
        _, raw = ApiToken.issue(user)
        assert call(f"Bearer {raw}") == 403


def test_it_lets_staff_users_in(bob: Any) -> None:
    bob.is_staff = True
    bob.save()
    _, raw = ApiToken.issue(bob)
    assert call(f"Bearer {raw}") == 200


def test_it_never_matches_an_empty_expected_token(settings: Any) -> None:
    request = RequestFactory().get("/", HTTP_AUTHORIZATION="Bearer ")
    assert not bearer_matches(request, "")
    settings.MONITORING_API_TOKEN = ""
    request = RequestFactory().get("/", HTTP_AUTHORIZATION="Bearer x")
    assert not is_monitoring_reader(request)
    assert is_monitoring_reader(request, "x")
