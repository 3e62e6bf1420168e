"""Outgoing HTTP refuses private and loopback destinations at connect time unless allowed."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk.lib import http
from tests.receivers import HttpReceiver


@pytest.fixture(autouse=True)
def _guarded(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_IPS = False


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.0.0.1", "169.254.169.254"])
def test_it_refuses_private_and_loopback_destinations(host: str) -> None:
    with pytest.raises(http.HttpError) as caught:
        http.post(f"http://{host}:9/secret-path?token=abc", json={}, timeout=1)
    assert caught.value.refused
    assert "secret-path" not in caught.value.message and "abc" not in caught.value.message


def test_it_checks_the_address_a_host_name_resolves_to() -> None:
    # A public-looking name that resolves to loopback is still refused (DNS rebinding).
    with HttpReceiver() as receiver, pytest.raises(http.HttpError):
        http.post(f"http://localhost:{receiver.port}/", json={})
    assert receiver.requests == 0


def test_it_allows_loopback_when_the_setting_says_so(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_IPS = True
    with HttpReceiver() as receiver:
        response = http.post(receiver.url, json={"a": 1}, headers={"X-Test": "1"})
    assert response.status == 200 and response.text == "ok"
    assert receiver.accepted[0]["json"] == {"a": 1}
    assert receiver.accepted[0]["headers"]["User-Agent"].startswith("helpdesk-platform/")


def test_it_allows_an_operator_url_marked_trusted() -> None:
    with HttpReceiver() as receiver:
        assert http.post(receiver.url, json={}, trusted=True).status == 200


def test_it_refuses_other_schemes_and_reports_failures_without_the_url(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_IPS = True
    with pytest.raises(http.HttpError):
        http.post("file:///etc/passwd")
    with HttpReceiver() as receiver:
        port = receiver.port
    with pytest.raises(http.HttpError) as caught:
        http.post(f"http://127.0.0.1:{port}/hooks/T0/B0/s3cr3t", json={}, timeout=1)
    assert "s3cr3t" not in caught.value.message
