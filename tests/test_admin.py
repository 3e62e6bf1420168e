"""The Django admin: staff only, and every model registered."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_registers_every_helpdesk_model() -> None:
    for label in ("accounts", "tickets"):
        for model in apps.get_app_config(label).get_models():
            assert admin.site.is_registered(model), model


def test_it_keeps_non_staff_out(alice: Any) -> None:
    client = Client()
    assert client.get("/admin/tickets/ticket/").status_code == 302
    client.force_login(alice)  # an organization admin is not platform staff
    response = client.get("/admin/tickets/ticket/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_lets_a_superuser_browse_tickets(make_ticket: Any, django_user_model: Any) -> None:
    make_ticket()
    root = django_user_model.objects.create_superuser("root", password="x" * 12)
    client = Client()
    client.force_login(root)
    for url in [
        "/admin/tickets/ticket/",
        "/admin/tickets/ticketevent/",
        "/admin/accounts/apitoken/",
    ]:
        assert client.get(url).status_code == 200, url
