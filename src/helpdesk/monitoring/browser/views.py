"""POST /api/v1/analytics/performance/ and /api/v1/analytics/interactions/.

Browsers post here without a session or token (``navigator.sendBeacon`` with a text/plain
body, or the spec's ``fetch`` with JSON), so the views are CSRF-exempt and guarded instead by:

1. the Origin header: this site's own origin or one in BROWSER_ALLOWED_ORIGINS (403 otherwise,
   and for requests without one: every browser sends it on a POST);
2. a per-client-IP budget of BROWSER_RATE_LIMIT_PER_MINUTE requests (429 with Retry-After);
3. a body of at most BROWSER_MAX_BODY_BYTES, 64 KiB (413; the SDK's batches stay far below);
4. the payload itself (400 with field errors; 400 for a batch older than 5 minutes).

A valid report becomes histogram observations (``record``) and a 204; an invalid one records
nothing. Allowed cross-origin callers get CORS headers and an answer to their preflight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from helpdesk.monitoring.browser import instruments, labels, payloads
from helpdesk.monitoring.browser.budget import THRESHOLDS
from helpdesk.monitoring.security.ratelimit import over_limit

logger = logging.getLogger(__name__)

Parser = Callable[[Any, float, float], payloads.Batch]


def _origin_allowed(request: HttpRequest, origin: str) -> bool:
    if origin in settings.BROWSER_ALLOWED_ORIGINS:
        return True
    try:
        own = f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:  # not a host we serve
        return False
    return origin == own


def _refuse(reason: str, status: int, detail: str | dict[str, Any]) -> JsonResponse:
    instruments.REJECTED.labels(reason).inc()
    body = {"detail": detail} if isinstance(detail, str) else detail
    return JsonResponse(body, status=status)


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


def record(batch: payloads.Batch, user_agent: str) -> None:
    """Observe a validated batch in the histograms."""
    route = labels.route(batch.route, batch.page)
    device = labels.device(user_agent)
    # The page's trace: an exemplar of the vitals (kept in single-process mode only, see
    # docs/tracing.md) and the poor-value log line's trace.id.
    exemplar = {"trace_id": batch.trace_id} if batch.trace_id else None
    trace = {"trace.id": batch.trace_id} if batch.trace_id else {}
    for vital in batch.vitals:
        if vital.name == "CLS":
            instruments.CLS.labels(route, device).observe(vital.value, exemplar)
        else:
            instruments.WEB_VITAL.labels(vital.name, route, device).observe(vital.value, exemplar)
        if vital.target and vital.value > THRESHOLDS[vital.name][1]:
            # Attribution of a poor value: which element to look at (logs, never labels).
            logger.info(
                "poor %s on %s: %s",
                vital.name,
                route,
                vital.target,
                extra={"event.action": "web_vital_poor", "browser.route": route, **trace},
            )
    for phase, seconds in batch.page_load.items():
        instruments.PAGE_LOAD.labels(phase, route).observe(seconds)
    for action, seconds in batch.interactions:
        instruments.INTERACTION.labels(labels.action(action), route).observe(seconds)


def _handle(request: HttpRequest, parse: Parser) -> HttpResponse:
    origin = request.headers.get("Origin", "")
    if not origin or not _origin_allowed(request, origin):
        return _refuse("origin", 403, "Origin not allowed.")
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
        return _cors(response, origin)
    retry_after = over_limit(request, "browser", settings.BROWSER_RATE_LIMIT_PER_MINUTE)
    if retry_after is not None:
        response = _refuse("rate_limited", 429, "Too many reports from this address.")
        response["Retry-After"] = str(retry_after)
        return _cors(response, origin)
    limit = settings.BROWSER_MAX_BODY_BYTES
    # Read at most one byte over the limit, whatever Content-Length claims (or chunked bodies).
    body = request.read(limit + 1)
    if len(body) > limit:
        return _cors(_refuse("too_large", 413, f"At most {limit} bytes per report."), origin)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _cors(_refuse("invalid", 400, "The body is not JSON."), origin)
    try:
        batch = parse(data, time.time(), settings.BROWSER_MAX_BATCH_AGE_SECONDS)
    except payloads.Stale as error:
        return _cors(_refuse("stale", 400, error.errors), origin)
    except payloads.Invalid as error:
        return _cors(_refuse("invalid", 400, error.errors), origin)
    if batch.page is None:
        # The spec's fetch() sends no page URL: its Referer is the page.
        batch.page = request.headers.get("Referer")
    record(batch, request.headers.get("User-Agent", ""))
    return _cors(HttpResponse(status=204), origin)


def _view(parse: Parser) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        if request.method not in {"POST", "OPTIONS"}:
            response = JsonResponse({"detail": "Use POST."}, status=405)
            response["Allow"] = "POST, OPTIONS"
            return response
        return _handle(request, parse)

    return view


performance = _view(payloads.performance)
interactions = _view(payloads.interactions)
