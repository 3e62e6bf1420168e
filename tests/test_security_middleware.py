"""The security middleware: request rate, throttling, scanners, probe paths, 404 floods, CSP."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from helpdesk.lib import synthetic
from helpdesk.monitoring.security.agents import classify, probe_path
from helpdesk.monitoring.security.middleware import RateCounter, route_group
from helpdesk.monitoring.security.models import SecurityEvent
from tests.services import unavailable

pytestmark = pytest.mark.django_db


def count(action: str) -> int:
    return SecurityEvent.objects.filter(action=action).count()


@override_settings(SECURITY_RATE_LIMIT_PER_MINUTE=5, SECURITY_THROTTLE_GROUPS=[])
def test_it_reports_a_rate_spike_once_per_ip_and_window() -> None:
    client = Client(REMOTE_ADDR="198.51.100.5")
    statuses = [client.get("/api/v1/tickets/").status_code for _ in range(12)]
    assert 429 not in statuses  # detection only: the api group is not throttled
    assert count("excess_rate_limit_exceeded") == 1
    event = SecurityEvent.objects.get(action="excess_rate_limit_exceeded")
    assert event.client_ip == "198.51.100.5"
    assert event.details["group"] == "api"
    # Another client has its own counter.
    Client(REMOTE_ADDR="198.51.100.6").get("/api/v1/tickets/")
    assert count("excess_rate_limit_exceeded") == 1


@override_settings(SECURITY_RATE_LIMIT_PER_MINUTE=5, SECURITY_THROTTLE_GROUPS=["api"])
def test_it_throttles_a_configured_route_group() -> None:
    client = Client(REMOTE_ADDR="198.51.100.7")
    statuses = [client.get("/api/v1/tickets/").status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    response = client.get("/api/v1/tickets/")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Too many requests" in response.json()["detail"]
    # Groups not listed are only counted.
    assert client.get("/admin/login/").status_code == 200


@override_settings(SECURITY_RATE_LIMIT_PER_MINUTE=3, SECURITY_THROTTLE_GROUPS=["admin", "auth"])
def test_it_neither_counts_nor_throttles_the_platforms_own_probes() -> None:
    client = Client(REMOTE_ADDR="198.51.100.12")
    probe = {"HTTP_X_SYNTHETIC_PROBE": synthetic.token()}
    assert [client.get("/admin/login/", **probe).status_code for _ in range(6)] == [200] * 6
    # Other traffic from the same address is throttled; the probe still gets through, and
    # a client that forges the header without the secret is counted like anyone else.
    forged = {"HTTP_X_SYNTHETIC_PROBE": "0" * 64}
    statuses = [client.get("/admin/login/", **forged).status_code for _ in range(5)]
    assert statuses[:3] == [200] * 3 and statuses[3:] == [429, 429]
    assert client.get("/admin/login/", **probe).status_code == 200


@override_settings(SECURITY_RATE_LIMIT_PER_MINUTE=2, SECURITY_THROTTLE_GROUPS=["api", "other"])
def test_it_exempts_health_metrics_and_static_files() -> None:
    client = Client(REMOTE_ADDR="198.51.100.8")
    for path in ("/health/live", "/metrics", "/static/admin/css/base.css") * 3:
        assert client.get(path).status_code != 429
    assert count("excess_rate_limit_exceeded") == 0


def test_it_flags_attack_tools_once_per_window_but_not_curl() -> None:
    client = Client(REMOTE_ADDR="198.51.100.9")
    for _ in range(3):
        client.get("/api/v1/tickets/", HTTP_USER_AGENT="sqlmap/1.7.2#stable (https://sqlmap.org)")
    event = SecurityEvent.objects.get(action="malicious_attack_tool")
    assert event.reason == "sqlmap"
    assert event.user_agent_class == "scanner"
    for agent in ("curl/8.5.0", "python-requests/2.32.3", "Go-http-client/1.1", "Wget/1.21"):
        client.get("/api/v1/tickets/", HTTP_USER_AGENT=agent)
    assert SecurityEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("curl/8.5.0", "cli"),
        ("python-requests/2.32.3", "library"),
        ("Go-http-client/1.1", "library"),
        ("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "browser"),
        ("Mozilla/5.0 (compatible; Nmap Scripting Engine)", "scanner"),
        ("Nikto/2.5.0", "scanner"),
        ("masscan/1.3", "scanner"),
        ("Mozilla/5.0 zgrab/0.x", "scanner"),
        ("WPScan v3.8", "scanner"),
        ("Prometheus/2.53", "bot"),
        ("", "empty"),
    ],
)
def test_it_classifies_user_agents(agent: str, expected: str) -> None:
    assert classify(agent) == expected


@pytest.mark.parametrize(
    "path", ["/.env", "/.git/config", "/wp-admin/", "/phpmyadmin/index.php", "/x/../../etc"]
)
def test_it_flags_probe_paths(path: str) -> None:
    assert probe_path(path) is not None
    Client(REMOTE_ADDR="198.51.100.10").get(path)
    assert count("malicious_probe_path") == 1


def test_it_does_not_flag_our_own_paths() -> None:
    for path in ("/api/v1/tickets/", "/admin/", "/api/v1/docs/", "/health/ready"):
        assert probe_path(path) is None


@override_settings(SECURITY_404_LIMIT_PER_MINUTE=3)
def test_it_reports_many_not_found_answers_from_one_ip() -> None:
    client = Client(REMOTE_ADDR="198.51.100.11")
    for index in range(6):
        assert client.get(f"/api/v1/nothing-{index}/").status_code == 404
    assert count("malicious_excess_404") == 1
    assert Client(REMOTE_ADDR="198.51.100.12").get("/nope/").status_code == 404
    assert count("malicious_excess_404") == 1


def test_it_sets_a_content_security_policy_on_html_pages(alice: Any) -> None:
    page = Client().get("/admin/login/")
    assert "default-src 'self'" in page["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    api = Client().get("/api/v1/tickets/", HTTP_ACCEPT="application/json")
    assert "Content-Security-Policy" not in api


def test_it_serves_the_api_docs_without_inline_scripts() -> None:
    page = Client().get("/api/v1/docs/")
    assert page.status_code == 200
    assert b"<script>" not in page.content


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/api/v1/auth/token/", "auth"),
        ("/admin/login/", "auth"),
        ("/admin/tickets/", "admin"),
        ("/api/v1/tickets/", "api"),
        ("/", "other"),
    ],
)
def test_it_sorts_paths_into_route_groups(path: str, group: str) -> None:
    assert route_group(path) == group


@pytest.mark.services
def test_it_shares_request_counts_between_processes_each_interval() -> None:
    if not settings.CACHES["default"]["BACKEND"].endswith(".RedisCache"):
        unavailable("request counts are shared between processes through Redis (REDIS_URL)")
    # Two processes' counters: each sends its hits at its first hit after each interval.
    first, second = RateCounter(send_seconds=0.5), RateCounter(send_seconds=0.5)
    ip = f"203.0.113.{secrets.randbelow(250) + 1}"
    assert [first.hit(ip, 7) for _ in range(3)] == [1, 2, 3]  # the first hit is sent at once
    assert second.hit(ip, 7) == 2  # the first process's two later hits are not sent yet
    time.sleep(0.6)
    assert first.hit(ip, 7) == 5  # sends its three unsent hits: 2 + 3
    assert second.hit(ip, 7) == 6
    assert first.hit(ip, 8) == 1  # each minute counts on its own
