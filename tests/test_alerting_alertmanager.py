"""A real Alertmanager (0.25, Debian package) against the app: its webhook reaches the alert
center with its own payload shapes; acknowledging silences in it; the evaluator posts to it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from helpdesk.monitoring.alerting.evaluator import AlertmanagerSink, Evaluator, Observation, Rule
from helpdesk.monitoring.alerting.models import Alert
from tests import engines
from tests.conftest import client_for
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
TOKEN = "w" * 40


@pytest.fixture
def alertmanager(tmp_path: Path, live_server: Any, settings: Any) -> Iterator[str]:
    """Run Alertmanager routing every alert to the app's webhook; yield its URL."""
    settings.ALERTMANAGER_WEBHOOK_TOKEN = TOKEN
    settings.OUTBOUND_ALLOW_PRIVATE_IPS = False  # ALERTMANAGER_URL is trusted without it
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: helpdesk
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: helpdesk
    webhook_configs:
      - url: {live_server.url}/api/v1/monitoring/alerts/alertmanager/
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"""
    )
    with engines.alertmanager(config, tmp_path / "data", free_port(18600, 18649)) as url:
        settings.ALERTMANAGER_URL = url
        yield url


def _push(url: str, ends: datetime | None = None, **labels: str) -> None:
    starts = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    body = [
        {
            "labels": {"alertname": "HighErrorRate", "severity": "critical", **labels},
            "annotations": {"summary": "High error rate detected"},
            "startsAt": starts.isoformat(),
            "endsAt": (ends or datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "generatorURL": "http://prometheus:9090/graph",
        }
    ]
    assert requests.post(f"{url}/api/v2/alerts", json=body, timeout=5).status_code == 200


def test_it_receives_firing_and_resolved_from_a_real_alertmanager(alertmanager: str) -> None:
    _push(alertmanager, job="helpdesk")
    alert = wait_until(lambda: Alert.objects.filter(source="alertmanager").first())
    served = requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
    assert alert.fingerprint == served[0]["fingerprint"]
    assert alert.labels["job"] == "helpdesk" and alert.severity == "critical"
    assert alert.annotations["summary"] == "High error rate detected"
    _push(alertmanager, ends=datetime.now(UTC) - timedelta(seconds=1), job="helpdesk")
    wait_until(lambda: Alert.objects.filter(status="resolved").exists())
    assert Alert.objects.count() == 1


def test_it_silences_in_alertmanager_when_acknowledging(alertmanager: str, bob: Any) -> None:
    _push(alertmanager, job="helpdesk")
    alert = wait_until(lambda: Alert.objects.filter(source="alertmanager").first())
    bob.is_staff = True
    bob.save()
    response = client_for(bob).post(f"/api/v1/monitoring/alerts/{alert.pk}/ack/")
    assert response.status_code == 200
    silence_id = response.json()["alertmanager_silence"]
    silence = requests.get(f"{alertmanager}/api/v2/silence/{silence_id}", timeout=5).json()
    assert silence["status"]["state"] == "active"
    assert silence["createdBy"] == "bob"
    assert {m["name"]: m["value"] for m in silence["matchers"]}["job"] == "helpdesk"


def test_the_evaluator_posts_its_alerts_to_alertmanager(alertmanager: str) -> None:
    class Down:
        bad = True

        def observe(self, now: float) -> list[Observation]:
            return [Observation("database", self.bad, labels={"check": "database"})]

    source = Down()
    rule = Rule("ReadinessCheckFailing", "critical", source, "down", resolve_after=1)
    evaluator = Evaluator([rule], AlertmanagerSink(alertmanager, 15))
    evaluator.evaluate()

    def served() -> list[dict[str, Any]]:
        alerts = requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
        return [a for a in alerts if a["labels"].get("alertname") == "ReadinessCheckFailing"]

    [posted] = wait_until(served)
    assert posted["labels"]["check"] == "database"
    # Alertmanager routes it back to the app's webhook: one place for grouping and silences.
    wait_until(lambda: Alert.objects.filter(name="ReadinessCheckFailing", source="alertmanager"))
    source.bad = False
    evaluator.evaluate()
    wait_until(lambda: Alert.objects.filter(name="ReadinessCheckFailing", status="resolved"))
