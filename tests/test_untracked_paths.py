"""MONITORING_UNTRACKED_PATHS: the one list the metrics, access log and rate limits read."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.test import Client, override_settings

from helpdesk.monitoring.logging.context import ACCESS_LOGGER
from helpdesk.monitoring.security.models import SecurityEvent

pytestmark = pytest.mark.django_db


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    """Collect the messages of the access lines written while the test runs."""
    handler = _Records()
    access = logging.getLogger(ACCESS_LOGGER)
    level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    yield handler.lines
    access.removeHandler(handler)
    access.setLevel(level)


def test_it_leaves_probes_scrapes_and_static_files_out_by_default(access_lines: list[str]) -> None:
    client = Client(REMOTE_ADDR="198.51.100.20")
    for path in ("/health/live", "/metrics", "/static/admin/css/base.css"):
        response = client.get(path)
        assert "X-Response-Time" not in response, path
    assert access_lines == []
    response = client.get("/api/v1/tickets/")
    assert "X-Response-Time" in response
    assert len(access_lines) == 1


@override_settings(
    MONITORING_UNTRACKED_PATHS=["/api/v1/tickets/"],
    SECURITY_RATE_LIMIT_PER_MINUTE=2,
    SECURITY_THROTTLE_GROUPS=["api"],
)
def test_it_applies_one_configured_list_to_metrics_access_log_and_rate_limits(
    access_lines: list[str],
) -> None:
    client = Client(REMOTE_ADDR="198.51.100.21")
    for _ in range(5):
        response = client.get("/api/v1/tickets/")
        assert response.status_code == 401  # never 429: not rate limited
        assert "X-Response-Time" not in response  # not measured
    assert access_lines == []  # not logged
    assert not SecurityEvent.objects.filter(action="excess_rate_limit_exceeded").exists()
    # Paths outside the configured list, /health/ included now, are tracked again.
    assert "X-Response-Time" in client.get("/health/live")
    assert len(access_lines) == 1
    assert "/health/live" in access_lines[0]
