"""The metrics token: generated and kept in development, never generated in production."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

from tests.test_settings import run_check


def test_it_generates_and_keeps_a_metrics_token_in_development(tmp_path: Path) -> None:
    assert run_check(tmp_path, METRICS_TOKEN="").returncode == 0
    token_file = tmp_path / "metrics_token"
    first = token_file.read_text()
    assert len(first) >= 32
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert run_check(tmp_path, METRICS_TOKEN="").returncode == 0
    assert token_file.read_text() == first


def _production(tmp_path: Path, **env: str) -> dict[str, str]:
    return {
        "HELPDESK_ENV": "production",
        "ALLOWED_HOSTS": "helpdesk.example.org",
        "SECRET_KEY": secrets.token_urlsafe(64),
        **env,
    }


def test_it_never_generates_a_metrics_token_in_production(tmp_path: Path) -> None:
    result = run_check(tmp_path, **_production(tmp_path, METRICS_TOKEN=""))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "metrics_token").exists()


def test_it_refuses_a_short_metrics_token_in_production(tmp_path: Path) -> None:
    result = run_check(tmp_path, **_production(tmp_path, METRICS_TOKEN="short"))
    assert result.returncode != 0
    assert "METRICS_TOKEN" in result.stderr


def test_it_refuses_a_bad_allowed_network(tmp_path: Path) -> None:
    result = run_check(tmp_path, METRICS_ALLOWED_NETWORKS="10.0.0.0/8,not-a-network")
    assert result.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS" in result.stderr
