"""Settings come from the environment; production refuses unsafe defaults."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings


def run_check(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    clean.update(
        {"HELPDESK_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "helpdesk.settings"}
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "helpdesk.cli", "check", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_refuses_to_start_in_production_without_a_secret(tmp_path: Path) -> None:
    result = run_check(tmp_path, HELPDESK_ENV="production", ALLOWED_HOSTS="example.org")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_it_refuses_a_default_looking_secret(tmp_path: Path) -> None:
    result = run_check(
        tmp_path,
        HELPDESK_ENV="production",
        ALLOWED_HOSTS="example.org",
        SECRET_KEY="django-insecure-" + "x" * 60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_it_passes_check_deploy_in_production(tmp_path: Path) -> None:
    result = run_check(
        tmp_path,
        "--deploy",
        "--fail-level",
        "WARNING",
        HELPDESK_ENV="production",
        ALLOWED_HOSTS="helpdesk.example.org",
        SECRET_KEY=secrets.token_urlsafe(64),
        # Brute-force counters must be shared by the web processes (security.W001).
        REDIS_URL="redis://127.0.0.1:6379/9",
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_it_generates_and_keeps_a_secret_in_development(tmp_path: Path) -> None:
    assert run_check(tmp_path).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert run_check(tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key


@pytest.mark.parametrize(("name", "value"), [("PORT", "abc"), ("DEBUG", "maybe")])
def test_it_names_the_variable_that_cannot_be_parsed(tmp_path: Path, name: str, value: str) -> None:
    result = run_check(tmp_path, **{name: value})
    assert result.returncode != 0
    assert name in result.stderr


# The configuration checks (helpdesk/checks.py), in process.

GOOD_KEY = secrets.token_urlsafe(64)


def _ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def test_it_accepts_the_embedded_default() -> None:
    from helpdesk import checks

    assert checks.production() == checks.networks() == checks.monitoring() == []


@override_settings(
    PRODUCTION=True,
    SECRET_KEY=GOOD_KEY,
    DEBUG=True,
    ALLOWED_HOSTS=[],
    MONITORING_API_TOKEN="short",
    ALERTMANAGER_WEBHOOK_TOKEN="x" * 32,
    HEALTH_TOKEN="",
    METRICS_TOKEN="also-short",
)
def test_it_refuses_debug_missing_hosts_and_short_tokens_in_production() -> None:
    from helpdesk import checks

    errors = checks.production()
    assert _ids(errors) == ["helpdesk.E002", "helpdesk.E003", "helpdesk.E004", "helpdesk.E004"]
    assert "MONITORING_API_TOKEN must be at least 32 characters" in errors[2].msg
    assert "METRICS_TOKEN" in errors[3].msg
    # An empty token is allowed (the feature is off); a long one passes.
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["x.example"], MONITORING_API_TOKEN=""):
        assert checks.production() == [errors[3]]


@override_settings(PRODUCTION=True, ALLOWED_HOSTS=["x.example"], SECRET_KEY="changeme" * 10)
def test_it_refuses_a_placeholder_secret_in_production() -> None:
    from helpdesk import checks

    assert _ids(checks.production()) == ["helpdesk.E001"]


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8", "proxy.internal"], METRICS_ALLOWED_NETWORKS=[])
def test_it_names_a_trusted_proxy_that_is_not_a_network() -> None:
    from helpdesk import checks

    (error,) = checks.networks()
    assert error.id == "helpdesk.E005"
    assert error.msg == "TRUSTED_PROXIES: not an IP network: 'proxy.internal'"


@override_settings(SECURITY_THROTTLE_GROUPS=["auth", "everything"])
def test_it_refuses_an_unknown_throttle_group() -> None:
    from helpdesk import checks

    assert _ids(checks.monitoring()) == ["helpdesk.E008"]


def test_it_does_not_serve_in_production_with_a_failing_check(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}},
        "HELPDESK_DATA_DIR": str(tmp_path),
        "HELPDESK_ENV": "production",
        "ALLOWED_HOSTS": "example.org",
        "SECRET_KEY": GOOD_KEY,
        "HEALTH_TOKEN": "short",
        "PORT": "1",  # never bound: the checks stop it first
    }
    result = subprocess.run(
        [sys.executable, "-m", "helpdesk.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "HEALTH_TOKEN must be at least 32 characters" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # production writes no secret


def test_it_reads_settings_one_way() -> None:
    """Code reads ``settings.X``; the defaults live in settings.py, never repeated at a call."""
    src = Path(__file__).resolve().parent.parent / "src"
    pattern = re.compile(r"\b(?:getattr|hasattr)\(\s*(?:django_)?settings\s*,")
    found = [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_it_creates_a_metrics_folder_named_in_the_environment(tmp_path: Path) -> None:
    """Any command (not only start and serve) works when the folder does not exist yet."""
    folder = tmp_path / "not-yet" / "metrics"
    result = run_check(tmp_path / "data", PROMETHEUS_MULTIPROC_DIR=str(folder))
    assert result.returncode == 0, result.stderr
    assert folder.is_dir()
