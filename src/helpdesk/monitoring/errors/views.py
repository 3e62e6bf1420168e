"""Sentry's ingestion endpoints: ``POST /api/<project_id>/envelope/`` and ``…/store/``.

The contract is Sentry's, so unmodified Sentry SDKs work with a DSN of this app
(docs/error-tracking.md):

- the key comes from ``X-Sentry-Auth: Sentry sentry_key=…``, the ``sentry_key`` query
  parameter (browser SDKs), or the envelope header's ``dsn``; none → 401, wrong → 403;
- bodies may be gzip or deflate encoded; ERRORS_MAX_DECOMPRESSED_BYTES caps the decoded size
  (413), MAX_REQUEST_BODY_BYTES the sent size (413, before this view runs);
- browsers: an ``Origin`` must be the app's own or in the project's ``allowed_origins``
  (``*``: any); answers carry ``Access-Control-Allow-Origin`` and preflights are answered;
- over the project's events per minute: 429 with ``Retry-After`` and
  ``X-Sentry-Rate-Limits: <seconds>::key``;
- ``event`` items are accepted (checked, scrubbed, grouped) in the request and written by
  the process's write-behind buffer (``writer``); ``client_report`` items (what the SDK dropped
  before sending, by reason) are summed into ``errors_client_discarded_total``; other item
  types (transactions, sessions, attachments…) are accepted and counted in
  ``errors_items_dropped_total``;
- anything malformed is a 4xx with a message and nothing stored; a database outage is 503.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from helpdesk.lib.client_ip import client_ip
from helpdesk.monitoring.errors import ingest, metrics, writer
from helpdesk.monitoring.errors.envelope import (
    IngestError,
    decompress,
    discarded,
    load_object,
    parse_auth,
    parse_envelope,
    public_key_from_dsn,
)
from helpdesk.monitoring.errors.models import Project
from helpdesk.monitoring.security.middleware import RateCounter

logger = logging.getLogger(__name__)

_ALLOW_HEADERS = (
    "Content-Type, Content-Encoding, X-Sentry-Auth, Authorization, Sentry-Trace, Baggage"
)
_EXPOSE_HEADERS = "X-Sentry-Rate-Limits, Retry-After"
_WINDOW = 60
_rates: RateCounter | None = None


_projects: dict[int, tuple[Project | None, float]] = {}


def _project(project_id: int) -> Project | None:
    """Return a project, kept per process for ERRORS_PROJECT_CACHE_SECONDS: every envelope
    needs it. A change made in this process applies at once (``forget_projects``), one made
    in another process within that time."""
    now = time.monotonic()
    cached = _projects.get(project_id)
    if cached is not None and cached[1] > now:
        return cached[0]
    project = Project.objects.filter(pk=project_id).first()
    if len(_projects) > 1000:
        _projects.clear()
    _projects[project_id] = (project, now + settings.ERRORS_PROJECT_CACHE_SECONDS)
    return project


@receiver([post_save, post_delete], sender=Project)
def forget_projects(**_: Any) -> None:
    """Drop the cached projects when one changes (a rotated key, new origins)."""
    _projects.clear()


def _cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = _EXPOSE_HEADERS
        response["Vary"] = "Origin"
    return response


def _error(status: int, detail: str, origin: str | None = None) -> HttpResponse:
    return _cors(JsonResponse({"detail": detail}, status=status), origin)


def _origin_allowed(request: HttpRequest, project: Project, origin: str) -> bool:
    if origin == f"{request.scheme}://{request.get_host()}":
        return True
    allowed = project.allowed_origins if isinstance(project.allowed_origins, list) else []
    return "*" in allowed or origin.rstrip("/") in {str(o).rstrip("/") for o in allowed}


def _given_key(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_X_SENTRY_AUTH")
    if header:
        key = parse_auth(header).get("sentry_key")
        if key:
            return key
    return request.GET.get("sentry_key") or None


def _check_rate(project: Project) -> int | None:
    """Count the request; returns seconds to wait when the project is over its limit."""
    limit = project.rate_limit_per_minute or settings.ERRORS_RATE_LIMIT_PER_MINUTE
    if not limit:
        return None
    global _rates  # noqa: PLW0603 - created on first use, after the cache is configured
    if _rates is None:
        # Hits go to Redis once a second per process, not one round trip per envelope: a
        # limit per minute can be a second late.
        _rates = RateCounter(send_seconds=1.0)
    now = time.time()
    bucket = int(now // _WINDOW)
    try:
        count = _rates.hit(str(project.pk), bucket, scope="errors-project")
    except Exception as error:  # a cache outage must not stop error reports
        logger.debug("error rate counter unavailable: %s", type(error).__name__)
        return None
    if count <= limit:
        return None
    return max(1, int((bucket + 1) * _WINDOW - now + 0.999))


@dataclass
class _Body:
    """What a body carries: events, client reports' entries, item types not stored."""

    events: list[dict[str, Any]] = field(default_factory=list)
    discarded: list[tuple[str, str, int]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def count(self) -> None:
        """Count what is not stored: other item types, and the client reports' entries."""
        for item_type in self.dropped:
            metrics.ITEMS_DROPPED.labels(item_type).inc()
        for reason, category, quantity in self.discarded:
            metrics.CLIENT_DISCARDED.labels(reason, category).inc(quantity)


def _items(body: bytes, kind: str, key: str | None) -> tuple[_Body, str | None]:
    """Return what a body carries and the key it names."""
    if kind == "store":
        return _Body(events=[load_object(body, "event")]), key
    header, items = parse_envelope(body)
    if key is None and isinstance(header.get("dsn"), str):
        key = public_key_from_dsn(header["dsn"])
    found = _Body()
    for item in items:
        if item.type == "event":
            found.events.append(item.json())
        elif item.type == "client_report":
            # What the SDK dropped before sending: counted, never stored. A malformed report
            # costs only itself (Relay drops it too), not the envelope's events.
            try:
                found.discarded.extend(discarded(item.json()))
            except IngestError:
                found.dropped.append("client_report_invalid")
        else:
            found.dropped.append(
                item.type if item.type.isidentifier() and len(item.type) <= 32 else "other"
            )
    return found, key


def _ingest(request: HttpRequest, project_id: int, kind: str) -> HttpResponse:
    origin = request.META.get("HTTP_ORIGIN") or None
    try:
        project = _project(project_id)
    except DatabaseError:
        response = _error(503, "Error tracking is unavailable; retry later.", origin)
        response["Retry-After"] = "60"
        return response
    if project is None:
        return _error(403, "Unknown project or key.")
    if origin is not None and not _origin_allowed(request, project, origin):
        return _error(403, "This origin may not send events to this project.")
    if request.method == "OPTIONS":
        response = _cors(HttpResponse(status=200), origin)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = _ALLOW_HEADERS
        response["Access-Control-Max-Age"] = "3600"
        return response
    if request.method != "POST":
        response = _error(405, "Use POST.", origin)
        response["Allow"] = "POST, OPTIONS"
        return response
    try:
        raw = request.body
    except RequestDataTooBig:
        return _error(
            413, f"Body too large: the limit is {settings.MAX_REQUEST_BODY_BYTES} bytes.", origin
        )
    key = _given_key(request)
    try:
        body = decompress(
            raw,
            request.META.get("HTTP_CONTENT_ENCODING", ""),
            settings.ERRORS_MAX_DECOMPRESSED_BYTES,
        )
        found, key = _items(body, kind, key)
    except IngestError as error:
        if key is None:
            return _error(401, "Missing sentry_key (X-Sentry-Auth header or query).", origin)
        return _error(error.status, error.detail, origin)
    if key is None:
        return _error(401, "Missing sentry_key (X-Sentry-Auth header or query).", origin)
    if not hmac.compare_digest(key.encode(), project.public_key.encode()):
        return _error(403, "Unknown project or key.", origin)
    retry = _check_rate(project)
    events = found.events
    if retry is not None:
        if events:
            metrics.ITEMS_DROPPED.labels("event_rate_limited").inc(len(events))
        response = _error(429, f"Rate limit of the project reached; retry in {retry} s.", origin)
        response["Retry-After"] = str(retry)
        response["X-Sentry-Rate-Limits"] = f"{retry}::key"
        return response
    found.count()
    ip = client_ip(request)
    try:
        # Every event of the envelope is checked before any is stored.
        pendings = [ingest.accept(event, project, source="sdk", client_ip=ip) for event in events]
        if settings.ERRORS_WRITE_BEHIND_SECONDS > 0:
            for pending in pendings:
                writer.buffer.add(pending)
        else:
            writer.write(pendings)
    except IngestError as error:
        return _error(error.status, error.detail, origin)
    except DatabaseError:
        logger.exception("error event not stored: database error")
        response = _error(503, "Error tracking is unavailable; retry later.", origin)
        response["Retry-After"] = "60"
        return response
    last_id = pendings[-1].event["event_id"] if pendings else None
    return _cors(HttpResponse(json.dumps({"id": last_id}), content_type="application/json"), origin)


@csrf_exempt
def envelope(request: HttpRequest, project_id: int) -> HttpResponse:
    """Accept a Sentry envelope (see the module docstring)."""
    return _ingest(request, project_id, "envelope")


@csrf_exempt
def store(request: HttpRequest, project_id: int) -> HttpResponse:
    """Accept a single event the way older Sentry SDKs send it (see the module docstring)."""
    return _ingest(request, project_id, "store")
