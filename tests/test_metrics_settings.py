"""The metrics token: generated and kept in development, never generated in production."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest

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


def test_it_prints_the_metrics_url_and_token_on_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    capsys: pytest.CaptureFixture[str],
    db: None,  # the start banner also prints the error tracker's DSN, kept in the database
) -> None:
    from django.core import management

    from helpdesk import cli

    folder = tmp_path / "prometheus-multiproc"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"left over")
    settings.DATA_DIR = tmp_path
    settings.METRICS_TOKEN = "printed-token-0123456789abcdef0123"
    for name in ("PROMETHEUS_MULTIPROC_DIR", "HELPDESK_METRICS_DIR_PREPARED", "PATH"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    # Migrations, demo data and honcho are not what this test is about.
    monkeypatch.setattr(management, "call_command", lambda *a, **k: None)
    monkeypatch.setattr(cli, "_setup", lambda: None)

    def no_exec(*args: Any) -> None:
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", no_exec)
    with pytest.raises(SystemExit):
        cli.start()
    out = capsys.readouterr().out
    assert "/metrics" in out
    assert "Authorization: Bearer printed-token-0123456789abcdef0123" in out
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
    assert folder.is_dir()
    assert list(folder.iterdir()) == []  # emptied for the new run
