"""Settings come from the environment; production refuses unsafe defaults."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest


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
