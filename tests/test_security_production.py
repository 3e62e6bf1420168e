"""Production mode: security headers and cookies, and a clean `check --deploy`."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client, override_settings
# The manifest storage needs collectstatic; the headers are what this probe is about.
storages = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
with override_settings(STORAGES=storages):
    response = Client().get("/admin/login/", secure=True, HTTP_HOST="helpdesk.example.org")
cookie = response.cookies.get("csrftoken")
print(json.dumps({
    "status": response.status_code,
    "headers": dict(response.headers),
    "csrf_secure": bool(cookie and cookie["secure"]),
}))
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "REDIS_URL"}}
    env.update(
        {
            "HELPDESK_ENV": "production",
            "HELPDESK_DATA_DIR": str(tmp_path),
            "ALLOWED_HOSTS": "helpdesk.example.org",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            "LOG_LEVEL": "ERROR",
        }
    )
    env.update(extra)
    return env


def test_it_sends_security_headers_and_secure_cookies_in_production(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=_env(tmp_path, REDIS_URL="redis://127.0.0.1:6379/9"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout.strip().splitlines()[-1])
    headers = page["headers"]
    assert page["status"] == 200
    assert "max-age=31536000" in headers["Strict-Transport-Security"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert page["csrf_secure"]


def test_it_warns_in_production_when_counters_are_per_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpdesk.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "security.W001" in result.stderr


def test_it_passes_check_deploy_with_redis(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpdesk.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=_env(tmp_path, REDIS_URL="redis://127.0.0.1:6379/9"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
