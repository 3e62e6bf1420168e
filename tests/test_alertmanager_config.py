"""deploy/alertmanager/: the configuration renders from the environment, passes `amtool
check-config`, routes each severity to its receivers, and a real Alertmanager (0.25, Debian's
`prometheus-alertmanager`) running it inhibits symptoms of a cause and delivers email, Slack
and the app's webhook through the message templates.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.engines import alertmanager
from tests.receivers import HttpReceiver, SmtpReceiver
from tests.services import free_port, require_binary, wait_until

pytestmark = pytest.mark.services

ALERTMANAGER = Path(__file__).resolve().parent.parent / "deploy" / "alertmanager"
SHIPPED = ALERTMANAGER / "alertmanager.yml"
EXAMPLE_ENV = ALERTMANAGER / "alertmanager.env.example"
TOKEN = "a" * 40
SECRETS = {
    "/run/secrets/alertmanager_smtp_password": "smtp-password",
    "/run/secrets/alertmanager_slack_webhook_url": "",  # set per test
    "/run/secrets/alertmanager_webhook_token": TOKEN,
}


def example_env() -> dict[str, str]:
    values = {}
    for line in EXAMPLE_ENV.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def render(out: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """Run the shipped render.sh on the shipped configuration with the example values."""
    env = {"PATH": os.environ["PATH"], **example_env(), **overrides}
    return subprocess.run(
        ["sh", str(ALERTMANAGER / "render.sh"), str(SHIPPED), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def localise(config: Path, root: Path, slack_url: str = "http://127.0.0.1:9/") -> Path:
    """Point the rendered file's secret and template paths into ``root``."""
    text = config.read_text()
    for path, value in SECRETS.items():
        local = root / Path(path).name
        local.write_text(value or slack_url)
        text = text.replace(path, str(local))
    text = text.replace("/etc/alertmanager/templates", str(ALERTMANAGER / "templates"))
    config.write_text(text)
    return config


def render_local(tmp_path: Path, smtp_port: int, slack_url: str, webhook_url: str) -> Path:
    """Render the shipped file for receivers on this machine; return its path."""
    out = tmp_path / "alertmanager.yml"
    result = render(
        out,
        ALERTMANAGER_SMTP_SMARTHOST=f"127.0.0.1:{smtp_port}",
        ALERTMANAGER_SMTP_REQUIRE_TLS="false",
        ALERTMANAGER_HELPDESK_WEBHOOK_URL=webhook_url,
    )
    assert result.returncode == 0, result.stderr
    return localise(out, tmp_path, slack_url=slack_url)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    out = tmp_path / "alertmanager.yml"
    result = render(out)
    assert result.returncode == 0, result.stderr
    return localise(out, tmp_path)


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("amtool"), *args], capture_output=True, text=True, check=False
    )


# ---- the file ----------------------------------------------------------------------------


def test_it_ships_no_addresses_and_no_secrets() -> None:
    text = SHIPPED.read_text()
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), "an email address in the shipped file"
    assert "hooks.slack.com" not in text
    data = yaml.safe_load(text)
    assert "smtp_auth_password" not in data["global"]
    assert "slack_api_url" not in data["global"]
    for receiver in data["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert "credentials" not in hook["http_config"]["authorization"]
            assert hook["http_config"]["authorization"]["credentials_file"].startswith(
                "/run/secrets/"
            )
    assert data["global"]["smtp_auth_password_file"].startswith("/run/secrets/")
    assert data["global"]["slack_api_url_file"].startswith("/run/secrets/")


def test_it_renders_every_value_from_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "alertmanager.yml"
    assert render(out).returncode == 0
    rendered = out.read_text()
    assert not re.search(r"\$\{[A-Z]", rendered)
    assert "oncall@example.org" in rendered


def test_it_refuses_to_render_with_a_value_missing(tmp_path: Path) -> None:
    out = tmp_path / "alertmanager.yml"
    result = render(out, ALERTMANAGER_EMAIL_TO="")
    assert result.returncode == 1
    assert "ALERTMANAGER_EMAIL_TO" in result.stderr
    assert not out.exists()


def test_it_passes_amtool_check_config(config: Path) -> None:
    result = amtool("check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 receivers" in result.stdout
    assert "4 inhibit rules" in result.stdout


def test_it_groups_by_alertname_and_service_with_the_spec_timings() -> None:
    route = yaml.safe_load(SHIPPED.read_text())["route"]
    assert route["group_by"] == ["alertname", "service"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "10s",
        "10s",
        "1h",
    )


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical"], "email-slack-app"),
        (["severity=error"], "email-slack-app"),
        (["severity=warning"], "slack-app"),
        (["severity=info"], "app"),
        ([], "app"),
    ],
    ids=["critical", "error", "warning", "info", "no-severity"],
)
def test_it_routes_each_severity(config: Path, labels: list[str], receiver: str) -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        f"--verify.receivers={receiver}",
        "alertname=HighErrorRate",
        "service=helpdesk",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_it_would_notice_a_wrong_route(config: Path) -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        "--verify.receivers=app",
        "severity=critical",
    )
    assert result.returncode != 0


def test_it_mutes_warnings_and_info_but_never_pages_in_the_maintenance_window() -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    muted = {
        route["matchers"][0]: route.get("mute_time_intervals", [])
        for route in data["route"]["routes"]
    }
    assert muted == {
        'severity=~"critical|error"': [],
        'severity="warning"': ["maintenance"],
        'severity="info"': ["maintenance"],
    }
    assert [interval["name"] for interval in data["time_intervals"]] == ["maintenance"]


# ---- a real Alertmanager -----------------------------------------------------------------


# Alertmanager groups and repeats on its own clock: give it longer than the default.
_wait = partial(wait_until, timeout=40.0)


class Stack:
    """A running Alertmanager with real receivers behind each of its integrations."""

    def __init__(self, url: str, smtp: SmtpReceiver, slack: HttpReceiver, app: HttpReceiver):
        self.url = url
        self.smtp = smtp
        self.slack = slack
        self.app = app

    def post(self, alertname: str, **labels: str) -> None:
        now = datetime.now(UTC)
        body = [
            {
                "labels": {"alertname": alertname, "deployment": "helpdesk", **labels},
                "annotations": {
                    "summary": f"{alertname} summary",
                    "description": f"{alertname} value 42%",
                    "runbook_url": f"docs/runbooks/{alertname}.md",
                },
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            }
        ]
        response = requests.post(f"{self.url}/api/v2/alerts", json=body, timeout=5)
        assert response.status_code == 200, response.text

    def alerts(self) -> dict[str, dict[str, Any]]:
        served = requests.get(f"{self.url}/api/v2/alerts", timeout=5).json()
        return {f"{a['labels']['alertname']}/{a['labels'].get('deployment')}": a for a in served}

    def delivered_to_app(self) -> set[str]:
        return {
            alert["labels"]["alertname"]
            for item in self.app.accepted
            for alert in item["json"]["alerts"]
        }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with SmtpReceiver() as smtp, HttpReceiver() as slack, HttpReceiver() as app:
        webhook = f"http://127.0.0.1:{app.port}/api/v1/monitoring/alerts/alertmanager/"
        out = render_local(tmp_path, smtp.port, slack.url, webhook)
        port = free_port(18700, 18749)
        with alertmanager(out, tmp_path / "data", port, external_url=True) as url:
            yield Stack(url, smtp, slack, app)


def test_it_inhibits_symptoms_while_the_database_is_down(stack: Stack) -> None:
    stack.post("DatabaseDown", severity="critical", service="database", instance="pg:9187")
    stack.post("HighErrorRate", severity="critical", service="helpdesk", job="helpdesk")
    stack.post("HealthCheckFailing", severity="critical", service="helpdesk", check="database")
    stack.post("HealthCheckFailing", severity="critical", service="helpdesk", check="cache")
    stack.post("WorkerHeartbeatMissing", severity="critical", service="worker", signal="absent")
    # Another deployment's errors are its own news.
    stack.post("HighErrorRate", severity="critical", service="helpdesk", deployment="other")

    def settled() -> dict[str, Any] | None:
        alerts = stack.alerts()
        return alerts if len(alerts) == 5 else None

    alerts = _wait(settled)
    source = alerts["DatabaseDown/helpdesk"]["fingerprint"]
    assert alerts["HighErrorRate/helpdesk"]["status"]["inhibitedBy"] == [source]
    assert alerts["HighErrorRate/helpdesk"]["status"]["state"] == "suppressed"
    assert alerts["HighErrorRate/other"]["status"]["inhibitedBy"] == []
    served = requests.get(f"{stack.url}/api/v2/alerts", timeout=5).json()
    checks = {a["labels"]["check"]: a["status"] for a in served if "check" in a["labels"]}
    assert checks["database"]["inhibitedBy"] == [source]
    assert checks["cache"]["inhibitedBy"] == []
    inhibited = requests.get(
        f"{stack.url}/api/v2/alerts", params={"active": "false", "inhibited": "true"}, timeout=5
    ).json()
    assert {a["labels"]["alertname"] for a in inhibited} == {
        "HighErrorRate",
        "HealthCheckFailing",
        "WorkerHeartbeatMissing",
    }

    _wait(lambda: {"DatabaseDown", "HealthCheckFailing"} <= stack.delivered_to_app())
    _wait(
        lambda: any(
            a["json"]["groupLabels"].get("alertname") == "HighErrorRate" for a in stack.app.accepted
        )
    )
    # The only HighErrorRate the app heard of is the other deployment's.
    for item in stack.app.accepted:
        for alert in item["json"]["alerts"]:
            if alert["labels"]["alertname"] == "HighErrorRate":
                assert alert["labels"]["deployment"] == "other"
            if alert["labels"]["alertname"] == "HealthCheckFailing":
                assert alert["labels"]["check"] == "cache"
    assert "WorkerHeartbeatMissing" not in stack.delivered_to_app()


def test_it_inhibits_the_other_alerts_of_a_target_that_is_down(stack: Stack) -> None:
    target = {"job": "redis", "instance": "redis-exporter:9121"}
    stack.post("TargetDown", severity="warning", service="redis", **target)
    stack.post("RedisDown", severity="critical", service="redis", **target)
    stack.post("RedisDown", severity="critical", service="redis", job="redis", instance="r2:9121")
    _wait(lambda: len(requests.get(f"{stack.url}/api/v2/alerts", timeout=5).json()) == 3)
    served = requests.get(f"{stack.url}/api/v2/alerts", timeout=5).json()
    state = {(a["labels"]["alertname"], a["labels"]["instance"]): a["status"] for a in served}
    assert state[("RedisDown", "redis-exporter:9121")]["state"] == "suppressed"
    assert state[("RedisDown", "r2:9121")]["state"] == "active"
    assert state[("TargetDown", "redis-exporter:9121")]["state"] == "active"


def test_it_pages_critical_alerts_by_email_slack_and_the_app(stack: Stack) -> None:
    stack.post("DatabaseDown", severity="critical", service="database", instance="pg-exporter:9187")
    stack.post("HighMemoryUsage", severity="warning", service="host", instance="node:9100")
    stack.post("MetricsScrapeSlow", severity="info", service="monitoring", instance="web:8000")
    _wait(lambda: stack.smtp.messages and len(stack.slack.accepted) >= 2)
    _wait(lambda: len(stack.delivered_to_app()) == 3)

    # Email only for the page, with the template's subject and body.
    assert len(stack.smtp.messages) == 1
    mail = stack.smtp.messages[0]
    assert mail["Subject"] == "[FIRING:1] CRITICAL DatabaseDown (database)"
    assert mail["To"] == "oncall@example.org"
    body = "\n".join(
        part.get_payload(decode=True).decode()
        for part in mail.walk()
        if part.get_content_type() == "text/plain"
    )
    assert "CRITICAL: DatabaseDown summary" in body
    assert "DatabaseDown value 42%" in body
    assert "Instance: pg-exporter:9187" in body
    assert "Runbook:  docs/runbooks/DatabaseDown.md" in body
    assert "Graph:    http://prometheus:9090/graph?g0.expr=up" in body
    assert f"Alertmanager: {stack.url}/#/alerts?receiver=email-slack-app" in body

    # Slack for critical and warning, never info.
    titles = sorted(item["json"]["attachments"][0]["title"] for item in stack.slack.accepted)
    assert titles == [
        "[FIRING:1] CRITICAL DatabaseDown (database)",
        "[FIRING:1] WARNING HighMemoryUsage (host)",
    ]
    warning = next(
        i for i in stack.slack.accepted if "Memory" in i["json"]["attachments"][0]["title"]
    )
    attachment = warning["json"]["attachments"][0]
    assert attachment["color"] == "#ff9500"
    assert attachment["title_link"] == f"{stack.url}/#/alerts?receiver=slack-app"
    assert "Instance: `node:9100`" in attachment["text"]
    assert "Runbook: docs/runbooks/HighMemoryUsage.md" in attachment["text"]

    # The app's receiver gets every severity, with its token.
    for item in stack.app.accepted:
        assert item["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert stack.delivered_to_app() == {"DatabaseDown", "HighMemoryUsage", "MetricsScrapeSlow"}


def test_it_has_the_binaries_ci_installs() -> None:
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "prometheus-alertmanager:prometheus-alertmanager" in ci
    assert "amtool:prometheus-alertmanager" in ci
    if shutil.which("prometheus-alertmanager") is None:
        pytest.skip("prometheus-alertmanager is not installed")


def test_it_lets_alertmanager_post_over_the_internal_network_in_production(
    tmp_path: Path,
) -> None:
    """Alertmanager calls http://web:8000/…: the receiver must not redirect it to HTTPS."""
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "client = Client()\n"
        "webhook = client.post('/api/v1/monitoring/alerts/alertmanager/', data='{}',"
        " content_type='application/json').status_code\n"
        "print('STATUS', webhook, client.get('/api/v1/tickets/').status_code)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}},
        "HELPDESK_ENV": "production",
        "ALLOWED_HOSTS": "testserver",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "HELPDESK_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("STATUS "))
    webhook, tickets = line.split()[1:]
    assert tickets == "301"  # everything else still goes to HTTPS
    assert webhook == "401"  # the receiver answers (no token), not a redirect
