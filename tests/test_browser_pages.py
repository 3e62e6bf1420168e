"""The platform's own pages carry the browser SDK, pointed at the platform's error project."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from helpdesk.monitoring.errors.models import Project
from helpdesk.monitoring.errors.server import PLATFORM_SLUG

pytestmark = pytest.mark.django_db


def test_it_puts_the_sdk_on_the_admin_pages_with_the_platform_dsn() -> None:
    html = Client().get("/admin/login/").content.decode()
    project = Project.objects.get(slug=PLATFORM_SLUG)
    tag = re.search(r'<script src="/static/helpdesk/monitor.js" [^>]*></script>', html)
    assert tag is not None, html
    assert f'data-dsn="http://{project.public_key}@testserver/{project.pk}"' in tag.group()
    # A same-origin static script: the admin's strict CSP needs no exception.
    response = Client().get("/admin/login/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
