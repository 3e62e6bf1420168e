"""End to end with real engines and the app as the scrape target: a dependency of the app goes
away, the app's own metric says so, the shipped rule fires through a real Prometheus and a real
Alertmanager to Slack, email and the app's alert center; the dependency comes back and the
resolved notification follows the same way.

- The app: pytest-django's ``live_server`` (this process, another thread) serves ``/metrics``
  behind ``Authorization: Bearer $METRICS_TOKEN`` and the Alertmanager webhook receiver.
- Prometheus (Debian's ``prometheus``) runs the shipped deploy/prometheus/prometheus.yml with
  its ``helpdesk`` job pointed at the live server (the token read from a ``credentials_file``,
  as in the shipped file) and every file of deploy/prometheus/rules.
- Alertmanager (Debian's ``prometheus-alertmanager``) runs the shipped configuration rendered
  by render.sh, with a Slack-compatible HTTP receiver, a real SMTP server and the app's webhook.
- The fault: the app's cache health check (the shipped ``CacheCheck``, the app's own Redis
  backend) reaches a real Redis through a TCP relay; stopping the relay refuses connections, so
  ``helpdesk_health_check_up{check="cache"}`` drops to 0 and HealthCheckFailing fires; starting
  it again on the same port lets the check pass and the alert resolve. The health report is not
  cached between scrapes (HEALTH_CACHE_SECONDS=0).

Only timings are shortened: in temporary copies, every non-zero rule ``for:`` becomes 2 s,
scrapes and rule evaluations run every second, and Alertmanager's group_wait and group_interval
are 1 s. The expressions, labels, annotations, routing, inhibition and templates are the shipped
ones. Skipped with the reason when a binary or Redis is missing; a failure under
HELPDESK_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from django.conf import settings as django_settings

from helpdesk.monitoring.alerting.models import Alert
from tests.engines import alertmanager, prometheus
from tests.receivers import HttpReceiver, SmtpReceiver
from tests.services import free_port, port_open, require_binary, unavailable, wait_until
from tests.tcp import Forwarder
from tests.test_alert_rules import PROMETHEUS
from tests.test_alertmanager_config import TOKEN, render_local

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

METRICS_TOKEN = "m" * 40
RULE = "HealthCheckFailing"


def _redis_address() -> tuple[str, int, str]:
    """Return host, port and database of the Redis to relay to (REDIS_URL's, else local)."""
    url = urlsplit(django_settings.REDIS_URL or "redis://127.0.0.1:6379/8")
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if not port_open(host, port):
        unavailable(f"Redis is not running on {host}:{port}")
    return host, port, url.path.lstrip("/") or "0"


def _shorten_for(text: str) -> str:
    """Rewrite every non-zero ``for:`` duration of a rule file to 2 s, nothing else."""
    return re.sub(r"(?m)^(\s+for:\s*)(?!0[smh]?\s*$)\S+", r"\g<1>2s", text)


def _prometheus_config(root: Path, app: str, alertmanager: int) -> Path:
    """Write the shipped prometheus.yml scraping ``app`` each second, and the shortened rules."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    helpdesk = next(job for job in config["scrape_configs"] if job["job_name"] == "helpdesk")
    token = root / "monitoring_token"
    token.write_text(METRICS_TOKEN)
    helpdesk["authorization"]["credentials_file"] = str(token)
    helpdesk["static_configs"] = [{"targets": [app]}]
    # The exporters and Prometheus itself are not part of this test.
    config["scrape_configs"] = [helpdesk]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]
    targets["targets"] = [f"127.0.0.1:{alertmanager}"]
    (root / "rules").mkdir()
    for rules in (PROMETHEUS / "rules").glob("*.yml"):
        (root / "rules" / rules.name).write_text(_shorten_for(rules.read_text()))
    path = root / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _shorten_grouping(config: Path) -> None:
    data = yaml.safe_load(config.read_text())
    data["route"].update(group_wait="1s", group_interval="1s")
    config.write_text(yaml.safe_dump(data))


def _cache_up(prometheus: str) -> float | None:
    """Return the last scraped helpdesk_health_check_up{check="cache"}, or None."""
    response = requests.get(
        f"{prometheus}/api/v1/query",
        params={"query": 'helpdesk_health_check_up{job="helpdesk",check="cache"}'},
        timeout=2,
    )
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _slack_titles(slack: HttpReceiver) -> list[str]:
    titles = [item["json"]["attachments"][0]["title"] for item in list(slack.accepted)]
    return [title for title in titles if f" {RULE} " in title]


@pytest.fixture
def stack(tmp_path: Path, live_server: Any, settings: Any) -> Iterator[dict[str, Any]]:
    """Start relay → Redis, the app, Prometheus → Alertmanager → (Slack, SMTP, the app)."""
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    host, port, db = _redis_address()
    am_port, prom_port = free_port(18800, 18849), free_port(18850, 18899)
    relay = Forwarder((host, port))
    relay.start()
    # The cache check reaches Redis only through the relay: the app's own Redis backend and
    # timeouts (settings.py's entry), under an alias of its own so that cutting the relay
    # breaks the dependency the check watches and nothing else the test relies on.
    settings.CACHES = {
        **settings.CACHES,
        "dependency": {
            "BACKEND": "helpdesk.monitoring.metrics.cache.RedisCache",
            "ALIAS": "dependency",
            "LOCATION": f"redis://127.0.0.1:{relay.port}/{db}",
            "KEY_PREFIX": "helpdesk-e2e",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    settings.HEALTH_CHECKS = [
        {
            "check": "helpdesk.monitoring.health.checks.CacheCheck",
            "critical": True,
            "deadline": 1.0,
            "options": {"alias": "dependency"},
        }
    ]
    settings.HEALTH_CACHE_SECONDS = 0
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.ALERTMANAGER_WEBHOOK_TOKEN = TOKEN
    try:
        with HttpReceiver() as slack, SmtpReceiver() as smtp:
            webhook = f"{live_server.url}/api/v1/monitoring/alerts/alertmanager/"
            am_config = render_local(tmp_path, smtp.port, slack.url, webhook)
            _shorten_grouping(am_config)
            (tmp_path / "prometheus").mkdir()
            app = urlsplit(live_server.url).netloc
            prom_config = _prometheus_config(tmp_path / "prometheus", app, am_port)
            with (
                alertmanager(am_config, tmp_path / "am-data", am_port),
                prometheus(prom_config, tmp_path / "prom-data", prom_port),
            ):
                yield {
                    "app": app,
                    "prometheus": f"http://127.0.0.1:{prom_port}",
                    "relay": relay,
                    "slack": slack,
                    "smtp": smtp,
                }
    finally:
        relay.stop()


def test_it_notifies_firing_then_resolved_when_a_dependency_of_the_app_goes_and_returns(
    stack: dict[str, Any],
) -> None:
    slack: HttpReceiver = stack["slack"]
    smtp: SmtpReceiver = stack["smtp"]
    # Healthy first: Prometheus scrapes the app with the token and sees the check pass.
    wait_until(lambda: _cache_up(stack["prometheus"]) == 1.0, timeout=20)
    assert not Alert.objects.filter(name=RULE).exists()

    stack["relay"].stop()  # Redis unreachable: connections refused

    wait_until(lambda: _cache_up(stack["prometheus"]) == 0.0, timeout=20)
    alert = wait_until(lambda: Alert.objects.filter(name=RULE, status="firing").first(), timeout=30)
    assert alert.source == "alertmanager"
    assert alert.severity == "critical"
    assert alert.labels["check"] == "cache"
    assert alert.labels["job"] == "helpdesk"
    assert alert.labels["instance"] == stack["app"]  # the app itself was scraped
    assert alert.labels["deployment"] == "helpdesk"
    assert alert.annotations["runbook_url"] == "docs/runbooks/HealthCheckFailing.md"
    assert alert.annotations["summary"] == f"Health check cache fails on {stack['app']}"
    titles = wait_until(lambda: _slack_titles(slack), timeout=20)
    assert titles[0] == f"[FIRING:1] CRITICAL {RULE} (helpdesk)"
    assert not any(title.startswith("[RESOLVED]") for title in titles)

    stack["relay"].start()  # Redis back on the same address

    resolved = wait_until(
        lambda: Alert.objects.filter(pk=alert.pk, status="resolved").first(), timeout=30
    )
    assert resolved.ends_at is not None
    assert resolved.ends_at > resolved.starts_at
    titles = wait_until(
        lambda: [t for t in _slack_titles(slack) if t.startswith("[RESOLVED]")], timeout=20
    )
    assert titles[0] == f"[RESOLVED] CRITICAL {RULE} (helpdesk)"
    # Still one episode in the alert center: the webhook updated it, never duplicated it.
    assert Alert.objects.filter(name=RULE, labels__check="cache").count() == 1
    # A critical alert pages by email as well, firing and resolved.
    subjects = [str(message["Subject"]) for message in smtp.messages]
    assert f"[FIRING:1] CRITICAL {RULE} (helpdesk)" in subjects
    wait_until(
        lambda: (
            f"[RESOLVED] CRITICAL {RULE} (helpdesk)"
            in [str(message["Subject"]) for message in smtp.messages]
        ),
        timeout=20,
    )
