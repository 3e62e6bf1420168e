"""Run the synthetic probes over HTTP against the app's public URL.

Each probe is a list of phases; a phase makes one request with a deadline
(PROBE_TIMEOUT_SECONDS) and checks the answer. The first failing phase ends the run.

- ``ready``: ``GET /health/ready`` answers 200.
- ``login``: ``GET /admin/login/`` answers 200 with a login form.
- ``journey``: the low-privilege probe account (``helpdesk probe-account``) gets a token,
  lists its tickets and opens the first: ``token`` -> ``ticket_list`` -> ``ticket_detail``.

Errors are short and generic ("status 500", "timed out after 5 s"): never a body or a secret.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from helpdesk.lib import http, synthetic
from helpdesk.monitoring.probes.models import ProbeRun

logger = logging.getLogger(__name__)

PROBES = ("ready", "login", "journey")
# Fingerprints of probe passwords the app refused, in this process.
_REFUSED: set[str] = set()
RETENTION = timedelta(days=35)


class PhaseFailed(Exception):
    """A phase's answer was wrong; the message is safe to store and show."""


@dataclass
class Result:
    """The outcome of one probe run."""

    probe: str
    success: bool = True
    phases: dict[str, float] = field(default_factory=dict)
    failed_phase: str = ""
    error: str = ""

    @property
    def duration(self) -> float:
        return sum(self.phases.values())


class Session:
    """Requests to the base URL with the probe's header and a per-request deadline."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {synthetic.SYNTHETIC_HEADER: synthetic.token()}

    def call(self, method: str, path: str, **kwargs: Any) -> http.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            # trusted: the operator's own URL, usually loopback or the internal network.
            return http.request(
                method,
                self.base + path,
                headers=headers,
                timeout=self.timeout,
                trusted=True,
                **kwargs,
            )
        except http.HttpError as error:
            raise PhaseFailed(error.message) from None


def _expect(response: http.Response, status: int = 200) -> http.Response:
    if response.status != status and not (status == 200 and response.status == 201):
        raise PhaseFailed(f"status {response.status}")
    return response


def probe_password() -> str:
    """Return the probe account's password: PROBE_PASSWORD, else the file start wrote."""
    if settings.PROBE_PASSWORD:
        return str(settings.PROBE_PASSWORD)
    path = Path(settings.DATA_DIR) / "probe-password"
    return path.read_text().strip() if path.is_file() else ""


def _ready(session: Session, phase: Callable[[str], Any]) -> None:
    with phase("ready"):
        _expect(session.call("GET", "/health/ready"))


def _login(session: Session, phase: Callable[[str], Any]) -> None:
    with phase("login_page"):
        page = _expect(session.call("GET", "/admin/login/"))
        if 'name="password"' not in page.text:
            raise PhaseFailed("no login form")


def _journey(session: Session, phase: Callable[[str], Any]) -> None:
    password = probe_password()
    if not password:
        raise PhaseFailed("no probe account password (run `helpdesk probe-account`)")
    fingerprint = hashlib.sha256(password.encode()).hexdigest()
    with phase("token"):
        # A refused password is not tried again: repeated failed logins from the worker's
        # address would lock it out (and, on one host, everyone sharing that address).
        if fingerprint in _REFUSED:
            raise PhaseFailed("credentials refused before (run `helpdesk probe-account`)")
        answer = session.call(
            "POST",
            "/api/v1/auth/token/",
            json={"username": settings.PROBE_USERNAME, "password": password},
        )
        if answer.status in (400, 401):
            _REFUSED.add(fingerprint)
        _expect(answer)
        try:
            token = str(answer.json()["token"])
        except (ValueError, KeyError, TypeError):
            raise PhaseFailed("no token in the answer") from None
    auth = {"Authorization": f"Token {token}"}
    with phase("ticket_list"):
        listing = _expect(session.call("GET", "/api/v1/tickets/", headers=auth))
        try:
            results = listing.json()["results"]
            first = results[0]["id"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise PhaseFailed("no ticket in the list") from None
    with phase("ticket_detail"):
        _expect(session.call("GET", f"/api/v1/tickets/{int(first)}/", headers=auth))


STEPS: dict[str, Callable[[Session, Callable[[str], Any]], None]] = {
    "ready": _ready,
    "login": _login,
    "journey": _journey,
}


class _Phase:
    """Time one phase into the result; a failure names it as the failing phase."""

    def __init__(self, result: Result, name: str) -> None:
        self.result, self.name = result, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        self.result.phases[self.name] = round(time.perf_counter() - self.start, 6)
        if error is not None:
            self.result.failed_phase = self.name


def run(name: str, base_url: str, timeout: float) -> Result:
    """Run one probe and return its result (never raises for a failing app)."""
    result = Result(name)
    try:
        STEPS[name](Session(base_url, timeout), lambda phase: _Phase(result, phase))
    except PhaseFailed as error:
        result.success = False
        result.failed_phase = result.failed_phase or "setup"
        result.error = str(error)[:200]
    return result


def run_configured() -> dict[str, Any]:
    """Run every probe of PROBE_CHECKS once, store the results; the worker's job."""
    now = timezone.now()
    outcome = {}
    for name in settings.PROBE_CHECKS:
        result = run(name, settings.PROBE_BASE_URL, settings.PROBE_TIMEOUT_SECONDS)
        ProbeRun.objects.create(
            probe=name,
            started_at=now,
            success=result.success,
            duration_seconds=result.duration,
            phases=result.phases,
            failed_phase=result.failed_phase,
            error=result.error,
        )
        outcome[name] = "ok" if result.success else f"{result.failed_phase}: {result.error}"
        if not result.success:
            logger.warning(
                "probe %s failed at its %s phase (%s)",
                name,
                result.failed_phase,
                result.error,
                extra={"event.action": "probe_failed"},
            )
    ProbeRun.objects.filter(started_at__lt=now - RETENTION).delete()
    return outcome


def consecutive_failures(probe: str, limit: int = 100) -> int:
    """Return how many of the probe's latest runs failed in a row."""
    count = 0
    for success in ProbeRun.objects.filter(probe=probe).values_list("success", flat=True)[:limit]:
        if success:
            break
        count += 1
    return count
