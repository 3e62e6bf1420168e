"""Security alerts of the embedded evaluator: one BruteForceAttack per attacker, rate spikes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from helpdesk.monitoring.alerting import rules
from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator
from helpdesk.monitoring.alerting.models import Alert

pytestmark = pytest.mark.django_db


def bad_login(username: str, ip: str) -> int:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": "wrong"}, REMOTE_ADDR=ip
    )
    return response.status_code


def evaluator() -> Evaluator:
    return Evaluator(rules.default_rules(), DatabaseSink())


def test_it_raises_one_alert_per_attacker_after_six_bad_logins(alice: Any, bob: Any) -> None:
    run = evaluator()
    statuses = [bad_login(name, "203.0.113.66") for name in ["alice", "bob", "root"] * 2]
    assert statuses == [400, 400, 400, 400, 429, 429]
    run.evaluate()
    [alert] = Alert.objects.filter(name="BruteForceAttack")
    assert alert.status == "firing"
    assert alert.severity == "warning"
    assert alert.labels["client_ip"] == "203.0.113.66"
    assert alert.labels["signal"] == "client_ip"
    assert alert.annotations["runbook_url"] == "docs/runbooks/BruteForceAttack.md"
    assert alert.annotations["attempts"] == "6"  # five counted, one refused while locked
    assert alert.annotations["accounts_targeted"] == "3"
    # More attempts from the same address: still one alert. Another address: its own alert.
    for _ in range(5):
        bad_login("alice", "203.0.113.66")
    for _ in range(5):
        bad_login("carol", "203.0.113.67")
    run.evaluate()
    ips = sorted(a.labels["client_ip"] for a in Alert.objects.filter(name="BruteForceAttack"))
    assert ips == ["203.0.113.66", "203.0.113.67"]


def test_it_stays_quiet_below_the_limit(alice: Any) -> None:
    for _ in range(4):
        bad_login("alice", "203.0.113.68")
    evaluator().evaluate()
    assert not Alert.objects.filter(name="BruteForceAttack").exists()


@override_settings(SECURITY_RATE_LIMIT_PER_MINUTE=3, SECURITY_THROTTLE_GROUPS=[])
def test_it_raises_a_rate_spike_alert_per_client() -> None:
    client = Client(REMOTE_ADDR="198.51.100.70")
    for _ in range(6):
        client.get("/api/v1/tickets/")
    evaluator().evaluate()
    [alert] = Alert.objects.filter(name="RequestRateSpike")
    assert alert.labels["client_ip"] == "198.51.100.70"
