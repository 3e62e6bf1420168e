"""The whole chain with real parts: a real Prometheus evaluates deploy/prometheus/rules against a
scraped target, sends to a real Alertmanager running deploy/alertmanager/alertmanager.yml, which
notifies Slack (a local Slack-compatible receiver) and the app's webhook receiver; the alert
lands in the alert center with its labels and runbook.

Only the timings are shortened (1 s scrapes and evaluations); the rules, the routing, the
templates and the receiver are the shipped ones.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpdesk.monitoring.alerting.models import Alert
from tests.engines import alertmanager, prometheus
from tests.receivers import HttpReceiver, SmtpReceiver
from tests.services import free_port, require_binary, wait_until
from tests.test_alert_rules import PROMETHEUS
from tests.test_alertmanager_config import TOKEN, render_local

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class LockoutTarget:
    """A scrape target whose lockout counter grows by 5 at every scrape: an attack."""

    def __init__(self) -> None:
        self.scrapes = 0

    def __call__(self) -> bytes:
        self.scrapes += 1
        return (
            "# TYPE helpdesk_security_events counter\n"
            'helpdesk_security_events_total{type="authn_login_lock"} '
            f"{5 * self.scrapes}\n"
        ).encode()


@pytest.fixture
def chain(tmp_path: Path, live_server: Any, settings: Any) -> Iterator[dict[str, Any]]:
    """Start target → Prometheus → Alertmanager → (Slack receiver, the app)."""
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")  # before the receivers start
    settings.ALERTMANAGER_WEBHOOK_TOKEN = TOKEN
    am_port, prom_port = free_port(18700, 18749), free_port(18750, 18799)
    with (
        HttpReceiver(get=LockoutTarget()) as target,
        HttpReceiver() as slack,
        SmtpReceiver() as smtp,
    ):
        webhook = f"{live_server.url}/api/v1/monitoring/alerts/alertmanager/"
        am_config = render_local(tmp_path, smtp.port, slack.url, webhook)

        # The shipped prometheus.yml with our target and Alertmanager, scraping every second.
        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        config["scrape_configs"] = [
            {"job_name": "helpdesk", "static_configs": [{"targets": [f"127.0.0.1:{target.port}"]}]}
        ]
        alerting = config["alerting"]["alertmanagers"][0]["static_configs"][0]
        alerting["targets"] = [f"127.0.0.1:{am_port}"]
        (tmp_path / "prometheus").mkdir()
        prom_config = tmp_path / "prometheus" / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump(config))
        shutil.copytree(PROMETHEUS / "rules", tmp_path / "prometheus" / "rules")

        with (
            alertmanager(am_config, tmp_path / "am-data", am_port),
            prometheus(prom_config, tmp_path / "prom-data", prom_port),
        ):
            yield {"slack": slack, "smtp": smtp}


def test_it_carries_a_rule_from_prometheus_to_the_alert_center(chain: dict[str, Any]) -> None:
    alert = wait_until(lambda: Alert.objects.filter(name="BruteForceAttack").first(), timeout=90)
    assert alert.source == "alertmanager"
    assert alert.severity == "warning"
    assert alert.labels["signal"] == "lockout"
    assert alert.labels["service"] == "security"
    assert alert.labels["deployment"] == "helpdesk"  # Prometheus's external label
    assert alert.annotations["runbook_url"] == "docs/runbooks/BruteForceAttack.md"
    assert alert.annotations["summary"].startswith("Accounts or addresses locked out")
    # A warning goes to Slack too, never by email.
    slack = wait_until(lambda: chain["slack"].accepted, timeout=30)
    title = slack[0]["json"]["attachments"][0]["title"]
    assert title == "[FIRING:1] WARNING BruteForceAttack (security)"
    assert chain["smtp"].messages == []
