"""The container and Prometheus files under deploy/, checked as far as this machine allows.

There is no Docker engine here: compose files are validated against the compose-spec JSON
schema (shipped by check-jsonschema) plus the rules we hold ourselves to; prometheus.yml goes
through the real ``promtool check config``.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from tests.services import require_binary

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
MONITORING = DEPLOY / "docker-compose.monitoring.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def compose_validator() -> jsonschema.protocols.Validator:
    files = importlib.resources.files("check_jsonschema") / "builtin_schemas/vendor"
    schema = json.loads((files / "compose-spec.json").read_text())
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.parametrize("path", [COMPOSE, MONITORING], ids=lambda p: p.name)
def test_it_matches_the_compose_spec(path: Path) -> None:
    errors = [error.message for error in compose_validator().iter_errors(load(path))]
    assert errors == []


def test_it_would_notice_an_invalid_compose_file() -> None:
    broken = load(COMPOSE)
    broken["services"]["web"]["helthcheck"] = {}
    broken["services"]["worker"]["depends_on"]["db"]["condition"] = "healthy"
    messages = " ".join(error.message for error in compose_validator().iter_errors(broken))
    assert "'helthcheck' was unexpected" in messages
    assert "'healthy'" in messages


def services() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in (COMPOSE, MONITORING):
        merged.update(load(path)["services"])
    return merged


def test_it_gives_every_long_running_service_a_health_check_without_curl() -> None:
    for name, service in load(COMPOSE)["services"].items():
        check = service.get("healthcheck", {})
        if name == "migrate":  # a one-shot job: "completed successfully" is its check
            assert check == {"disable": True}
            continue
        assert check.get("test"), name
        assert "curl" not in json.dumps(check["test"]), name
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
    for service in load(MONITORING)["services"].values():
        assert "curl" not in json.dumps(service.get("healthcheck", {}))
    compose = load(COMPOSE)["services"]
    assert compose["web"]["healthcheck"]["test"] == ["CMD", "helpdesk", "healthcheck", "--ready"]
    # The worker serves no HTTP: its check is a fresh heartbeat row from its own host.
    assert compose["worker"]["healthcheck"]["test"] == [
        "CMD",
        "helpdesk",
        "healthcheck",
        "--worker",
    ]


def test_it_starts_services_after_their_dependencies_are_healthy() -> None:
    everything = services()
    for name, service in everything.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in everything, f"{name} depends on unknown {dependency}"
            expected = (
                "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            )
            assert condition == {"condition": expected}, f"{name} -> {dependency}"
    assert set(everything["web"]["depends_on"]) == {"migrate", "db", "redis"}
    assert set(everything["worker"]["depends_on"]) == {"migrate", "db", "redis"}
    assert everything["worker"]["command"] == ["helpdesk", "worker"]
    assert everything["db"]["image"].startswith("postgres:15")
    assert everything["redis"]["image"].startswith("redis:7")


def test_it_takes_every_secret_from_the_environment() -> None:
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|DATA_SOURCE_NAME|DATABASE_URL|REDIS_URL")
    for path in (COMPOSE, MONITORING):
        text = path.read_text()
        assert "admin/admin" not in text
        for name, service in load(path)["services"].items():
            for key, value in (service.get("environment") or {}).items():
                if secretish.search(key) and not key.endswith(("_USER", "__FILE")):
                    assert re.search(r"\$\{[A-Z_]+:\?", str(value)), f"{name}.{key}"
    grafana = services()["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == (
        "/run/secrets/grafana_admin_password"
    )
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    secret = load(MONITORING)["secrets"]["grafana_admin_password"]["file"]
    assert secret.startswith("${GRAFANA_ADMIN_PASSWORD_FILE:?")


def test_it_builds_a_non_root_image_checked_by_the_app() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r'^\s+CMD \["helpdesk", "healthcheck", "--ready"\]', dockerfile, re.M)
    instructions = [line for line in dockerfile.splitlines() if not line.startswith("#")]
    assert "curl" not in "\n".join(instructions)


def test_it_scrapes_services_that_exist() -> None:
    config = load(PROMETHEUS)
    everything = services()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"helpdesk", "node", "postgres", "redis"} <= set(jobs)
    for job in jobs.values():
        # A probe job's targets are URLs; the scrape itself goes to the relabelled __address__.
        addresses = [
            rule["replacement"]
            for rule in job.get("relabel_configs", [])
            if rule.get("target_label") == "__address__"
        ]
        for group in job["static_configs"]:
            for target in group["targets"]:
                host = urlsplit(target).hostname if "://" in target else target.split(":")[0]
                assert host == "localhost" or host in everything, target
        for address in addresses:
            assert address.split(":")[0] in everything, address
    app = jobs["helpdesk"]
    assert app["authorization"]["credentials_file"] == "/run/secrets/monitoring_token"
    assert "monitoring_token" in everything["prometheus"]["secrets"]


def test_it_passes_promtool(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    syntax = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(PROMETHEUS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    # The full check also opens referenced files: point the token at a real one.
    token = tmp_path / "monitoring_token"
    token.write_text("t" * 40)
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS.read_text().replace("/run/secrets/monitoring_token", str(token)))
    full = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert full.returncode == 0, full.stdout + full.stderr


def test_it_ships_the_runbooks_the_console_shows() -> None:
    """The package holds no docs/: the image copies the runbooks and points the console there."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = re.search(r"^COPY docs/runbooks (\S+)$", dockerfile, re.M)
    assert copied
    assert f"CONSOLE_RUNBOOK_DIR={copied[1]}" in dockerfile
    assert any((DEPLOY.parent / "docs" / "runbooks").glob("*.md"))
