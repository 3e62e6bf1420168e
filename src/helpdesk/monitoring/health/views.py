"""The health endpoints: ``/health/live``, ``/health/ready`` and ``/health/`` (full report).

Responses are ``application/health+json`` (draft-inadarei-api-health-check): ``status``
pass|warn|fail, HTTP 200 for pass and warn, 503 for fail, ``Cache-Control: no-store``.

Anyone gets the top-level status and each check's name with its status. Observed values,
outputs, timings and versions need a staff session, ``Authorization: Bearer $HEALTH_TOKEN`` or
the monitoring token (``helpdesk.monitoring.access``). ``HealthProbeMiddleware`` answers most
probes before the session, CSRF and auth machinery; requests carrying a session cookie reach
these views so the staff check can use the session.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from helpdesk import __version__
from helpdesk.monitoring.access import bearer_matches, is_monitoring_reader
from helpdesk.monitoring.health.runner import FAIL, PASS, CheckResult, default_runner

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/health+json"
LIVE, READY, FULL = "live", "ready", "full"
_STARTED = time.monotonic()


def _check_entry(result: CheckResult, detailed: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": result.status}
    if not detailed:
        return entry
    entry["componentType"] = result.component_type
    if result.observed_value is not None:
        entry["observedValue"] = result.observed_value
        if result.observed_unit:
            entry["observedUnit"] = result.observed_unit
    entry["time"] = result.time
    entry["critical"] = result.critical
    entry["durationMs"] = round(result.duration * 1000, 2)
    if result.status != PASS:
        entry["output"] = result.output
    return entry


def health_payload(kind: str, detailed: bool) -> tuple[int, dict[str, Any]]:
    """Return (HTTP status, body) of the ``kind`` endpoint (live, ready or full)."""
    started = time.perf_counter()
    body: dict[str, Any] = {"status": PASS}
    checks: dict[str, list[dict[str, Any]]] = {}
    if kind == LIVE:
        if detailed:
            uptime = round(time.monotonic() - _STARTED, 1)
            checks["process:uptime"] = [
                {
                    "componentType": "system",
                    "observedValue": uptime,
                    "observedUnit": "s",
                    "status": PASS,
                }
            ]
    else:
        report = default_runner().report()
        body["status"] = report.status
        for result in report.results:
            checks[result.key] = [_check_entry(result, detailed)]
    if detailed:
        body.update(
            version=__version__.split(".", 1)[0],
            releaseId=__version__,
            serviceId=settings.HEALTH_SERVICE_ID,
            description="Helpdesk Platform " + ("liveness" if kind == LIVE else "readiness"),
        )
    if checks:
        body["checks"] = checks
    if detailed:
        body["response_time_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return (503 if body["status"] == FAIL else 200), body


def health_response(request: HttpRequest, kind: str, detailed: bool) -> HttpResponse:
    """Render the ``kind`` endpoint for ``request`` (HEAD: headers only)."""
    status, body = health_payload(kind, detailed)
    content = b"" if request.method == "HEAD" else orjson.dumps(body)
    response = HttpResponse(content, status=status, content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def has_detail_token(request: HttpRequest) -> bool:
    """Return True when the request presents HEALTH_TOKEN or MONITORING_API_TOKEN."""
    return bearer_matches(request, settings.HEALTH_TOKEN, settings.MONITORING_API_TOKEN)


def _view(kind: str) -> Any:
    @require_safe
    def view(request: HttpRequest) -> HttpResponse:
        detailed = is_monitoring_reader(request, settings.HEALTH_TOKEN)
        return health_response(request, kind, detailed)

    view.__name__ = f"health_{kind}"
    view.__doc__ = f"GET /health/{'' if kind == FULL else kind}: the {kind} health report."
    return view


live = _view(LIVE)
ready = _view(READY)
full = _view(FULL)
