"""Shared fixtures: an organization with an owner (admin), a member (agent), a customer,
and an outsider who belongs to another organization."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from rest_framework.test import APIClient

from helpdesk.accounts.models import ApiToken, Membership, Organization, Role
from helpdesk.tickets import services
from helpdesk.tickets.models import Ticket

User = get_user_model()


def _user(username: str, org: Organization, role: str) -> Any:
    user = User.objects.create_user(username=username, password="correct horse battery")
    Membership.objects.create(user=user, organization=org, role=role)
    return user


@pytest.fixture
def org(db: None) -> Organization:
    return Organization.objects.create(name="Acme", slug="acme")


@pytest.fixture
def other_org(db: None) -> Organization:
    return Organization.objects.create(name="Globex", slug="globex")


@pytest.fixture
def alice(org: Organization) -> Any:
    """The owner: admin of ``org``."""
    return _user("alice", org, Role.ADMIN)


@pytest.fixture
def bob(org: Organization) -> Any:
    """A member: agent of ``org``."""
    return _user("bob", org, Role.AGENT)


@pytest.fixture
def carol(org: Organization) -> Any:
    """A customer of ``org``."""
    return _user("carol", org, Role.CUSTOMER)


@pytest.fixture
def dave(org: Organization) -> Any:
    """Another customer of ``org``."""
    return _user("dave", org, Role.CUSTOMER)


@pytest.fixture
def charlie(other_org: Organization) -> Any:
    """The outsider: agent of another organization."""
    return _user("charlie", other_org, Role.AGENT)


def client_for(user: Any | None) -> APIClient:
    """Return an API client authenticated as ``user`` with a real bearer token."""
    client = APIClient()
    if user is not None:
        _, raw = ApiToken.issue(user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def make_ticket(org: Organization, carol: Any, alice: Any) -> Any:
    def make(**fields: Any) -> Ticket:
        fields.setdefault("subject", "Printer on fire")
        requester = fields.pop("requester", carol)
        return services.create_ticket(
            alice, services.access_for(alice), organization=org, requester=requester, **fields
        )

    return make


@pytest.fixture(autouse=True)
def _errors_written_in_the_request(settings: Any) -> None:
    """Error events posted in a test are stored before the answer (no write-behind thread);
    tests of the buffer turn it back on."""
    settings.ERRORS_WRITE_BEHIND_SECONDS = 0


@pytest.fixture(autouse=True)
def _fresh_security_counters() -> Iterator[None]:
    """Start each test with no login-failure counters, lockouts or request rates: they live in
    the caches, and every test client request comes from 127.0.0.1."""
    for alias in settings.CACHES:
        caches[alias].clear()
    yield
