"""Turn one event into stored facts: normalise, map sources, scrub, group, count, sample.

``ingest(event, project, source=…, client_ip=…)`` is the one way in, for SDK events and the
app's own exceptions alike. It returns what happened (issue, created, regressed, sampled).

Order matters: frames are parsed and source-mapped first (grouping needs source names), then
secrets are scrubbed with the logging package's ``Redactor`` (cookies, Authorization headers,
passwords, tokens in keys, query strings, messages and frame variables) and the project's
privacy setting drops IP addresses and user fields, and only then is anything written.

Writes run in autocommit, one short statement each, so a burst of one error does not queue
behind a transaction holding the issue's row: ``event_count``, ``IssueHour.count`` and
``ProjectMinute.count`` are exact ``F()`` increments; a status change is claimed with a
conditional UPDATE (one process wins, as with healthchecks' ``Flip`` claims), so a regression
is counted and alerted once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from helpdesk.lib.redaction import SECRET_ENV_VARS, Redactor
from helpdesk.monitoring.errors import grouping, sourcemaps, writer
from helpdesk.monitoring.errors.envelope import IngestError
from helpdesk.monitoring.errors.models import (
    Level,
    Project,
)
from helpdesk.monitoring.errors.stacks import parse_stack
from helpdesk.monitoring.errors.writer import Outcome, Pending
from helpdesk.monitoring.metrics.middleware import page_route

logger = logging.getLogger(__name__)

_LEVELS = {choice.value for choice in Level}
_LEVEL_ALIASES = {"critical": "fatal", "warn": "warning", "log": "info"}
_USER_FIELDS_KEPT = ("id",)
_IP_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded", "cf-connecting-ip", "true-client-ip")


_REMEMBERED_CHARS = 256  # strings up to this long have their redaction remembered


class _EventRedactor(Redactor):
    """The logging package's redaction, remembering its answer for short strings.

    Events of one error repeat the same frame URLs, function names, headers and breadcrumbs,
    and a URL always runs the full pattern (``://`` may start a DSN's password): remembering
    4 096 answers of at most 256 characters (about 2 MB) took the scrubbing of a browser event
    from about 2.8 ms to 0.6 ms (docs/benchmarks.md). ``text`` is a pure function of its
    arguments for one instance, so a remembered answer is the answer.
    """

    def __init__(self, max_chars: int) -> None:
        literals = [os.environ.get(name, "") for name in SECRET_ENV_VARS]
        super().__init__(max_chars=max_chars, literal_secrets=literals)
        self._remembered = lru_cache(maxsize=4096)(super().text)

    def text(self, value: str, limit: int | None = None, scan: bool = True) -> str:
        """Return ``value`` redacted and capped (see ``Redactor.text``)."""
        if scan and len(value) <= _REMEMBERED_CHARS:
            return self._remembered(value, limit)
        return super().text(value, limit, scan)


@lru_cache(maxsize=4)
def _redactor(max_chars: int) -> Redactor:
    """Return this process's event redactor for a field limit; it knows the secrets the
    process was started with (SECRET_ENV_VARS)."""
    return _EventRedactor(max_chars)


def user_hash(value: str) -> str:
    """Return the keyed hash that identifies an affected user (never the id itself)."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"errors-user:" + value.encode(), hashlib.sha256).hexdigest()[:32]


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _event_id(value: Any) -> str:
    if isinstance(value, str):
        try:
            return uuid.UUID(value).hex
        except ValueError:
            pass
    return uuid.uuid4().hex


_FRAME_TEXT = ("function", "module", "filename", "abs_path", "context_line", "platform")
_FRAME_NUMBERS = ("lineno", "colno")


def _clean_frame(frame: dict[str, Any]) -> dict[str, Any]:
    for name in _FRAME_TEXT:
        if name in frame and not isinstance(frame[name], str):
            frame[name] = None if frame[name] is None else str(frame[name])
    for name in _FRAME_NUMBERS:
        value = frame.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            frame[name] = None
    if not isinstance(frame.get("in_app"), bool):
        frame.pop("in_app", None)
    return frame


def _normalise_exceptions(event: dict[str, Any]) -> None:
    """Give exception values the types grouping relies on; parse ``stack`` text to frames.

    Our browser SDK sends the browser's ``Error.stack`` text as ``stack`` instead of frames.
    """
    container = event.get("exception")
    if container is not None and not isinstance(container, dict | list):
        event.pop("exception")
    for value in grouping.exceptions(event):
        for name in ("type", "value", "module"):
            if name in value and not isinstance(value[name], str):
                value[name] = None if value[name] is None else json.dumps(value[name])[:1024]
        stacktrace = value.get("stacktrace")
        stacktrace = stacktrace if isinstance(stacktrace, dict) else {}
        frames = stacktrace.get("frames")
        stack = value.pop("stack", None)
        if isinstance(frames, list):
            stacktrace["frames"] = [_clean_frame(f) for f in frames if isinstance(f, dict)]
        else:
            value.pop("stacktrace", None)
            parsed = parse_stack(stack) if isinstance(stack, str) else []
            if parsed:
                value["stacktrace"] = {"frames": parsed}


def _apply_source_maps(event: dict[str, Any]) -> None:
    for value in grouping.exceptions(event):
        stacktrace = value.get("stacktrace")
        if isinstance(stacktrace, dict) and isinstance(stacktrace.get("frames"), list):
            frames = [f for f in stacktrace["frames"] if isinstance(f, dict)]
            try:
                sourcemaps.apply(frames)
            except (ValueError, IndexError, TypeError) as error:
                logger.warning("source mapping skipped: %s", error)


def _privacy(event: dict[str, Any], project: Project, client_ip: str | None) -> str | None:
    """Apply the project's IP and user settings; returns the affected user's hash, if any."""
    given = event.get("user")
    user: dict[str, Any] = given if isinstance(given, dict) else {}
    ip = user.get("ip_address")
    if ip == "{{auto}}" or (ip is None and project.store_ip_address and client_ip):
        ip = client_ip
    identity = next(
        (str(user[k]) for k in ("id", "email", "username") if user.get(k) not in (None, "")),
        str(ip) if ip else None,
    )
    hashed = user_hash(identity) if identity else None
    kept = dict(user) if project.store_user_fields else {"id": hashed} if hashed else {}
    if project.store_ip_address and ip:
        kept["ip_address"] = str(ip)
    else:
        kept.pop("ip_address", None)
        request = event.get("request")
        if isinstance(request, dict):
            env = request.get("env")
            if isinstance(env, dict):
                env.pop("REMOTE_ADDR", None)
            headers = request.get("headers")
            if isinstance(headers, dict):
                for name in list(headers):
                    if str(name).lower() in _IP_HEADERS:
                        del headers[name]
    if kept:
        event["user"] = kept
    else:
        event.pop("user", None)
    return hashed


def _route_tag(event: dict[str, Any], project: Project) -> None:
    """Tag a platform page's event with its Django route template, as server events are.

    Only the platform project's pages are this app's own URLs; another project's page path
    means nothing to this URLconf. A route the event names already is kept.
    """
    tags = event.get("tags")
    request = event.get("request")
    if not project.is_platform or not isinstance(request, dict):
        return
    if tags is not None and (not isinstance(tags, dict) or tags.get("route")):
        return
    url = request.get("url")
    template = page_route(url, label=False) if isinstance(url, str) else None
    if template is not None:
        event["tags"] = {**(tags or {}), "route": f"/{template}"}


def prepare(
    event: dict[str, Any], project: Project, client_ip: str | None = None
) -> tuple[dict[str, Any], str | None]:
    """Return the normalised, source-mapped, scrubbed event and the affected user's hash."""
    event["event_id"] = _event_id(event.get("event_id"))
    level = str(event.get("level") or "error").lower()
    event["level"] = _LEVEL_ALIASES.get(level, level if level in _LEVELS else "error")
    _normalise_exceptions(event)
    _apply_source_maps(event)
    _route_tag(event, project)
    hashed = _privacy(event, project, client_ip)
    # Headers sent as [[name, value], …] pairs become a mapping the redactor can key on.
    request = event.get("request")
    if isinstance(request, dict) and isinstance(request.get("headers"), list):
        request["headers"] = {
            str(pair[0]): pair[1]
            for pair in request["headers"]
            if isinstance(pair, list | tuple) and len(pair) == 2
        }
    # Frame variables and breadcrumbs are bounded too; stack text is allowed to be long.
    cleaned = _redactor(settings.LOG_FIELD_MAX_CHARS).clean(event)
    return cleaned, hashed


def _json_size(event: dict[str, Any]) -> int:
    """Return the size of an event as stored JSON (orjson: a fifth of the json module's time)."""
    try:
        return len(orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # an integer beyond 64 bits: the json module writes it
        return len(json.dumps(event, separators=(",", ":"), default=str).encode())


def accept(
    event: dict[str, Any],
    project: Project,
    *,
    source: str = "sdk",
    client_ip: str | None = None,
    now: datetime | None = None,
) -> Pending:
    """Prepare and group one event; raises IngestError(413) when it is over the size cap.

    Everything here is CPU work on the event alone, done in the request; the database work is
    the writer's.
    """
    prepared, user = prepare(event, project, client_ip)
    size = _json_size(prepared)
    if size > settings.ERRORS_MAX_EVENT_BYTES:
        raise IngestError(
            413, f"Event too large: the limit is {settings.ERRORS_MAX_EVENT_BYTES} bytes."
        )
    return Pending(
        project=project,
        event=prepared,
        facts=grouping.group(prepared),
        size=size,
        level=str(prepared["level"]),
        release=_text(prepared.get("release"), 200),
        environment=_text(prepared.get("environment"), 64),
        source=source,
        user=user,
        received_at=now or timezone.now(),
    )


def ingest(
    event: dict[str, Any],
    project: Project,
    *,
    source: str = "sdk",
    client_ip: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Accept and write one event now (see the module docstring)."""
    pending = accept(event, project, source=source, client_ip=client_ip, now=now)
    return writer.write([pending])[0]
