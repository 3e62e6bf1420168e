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
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.monitoring.errors import grouping, metrics, sourcemaps
from helpdesk.monitoring.errors.envelope import IngestError
from helpdesk.monitoring.errors.models import (
    ErrorEvent,
    ErrorIssue,
    IssueHour,
    IssueUser,
    Level,
    Project,
    ProjectMinute,
    Status,
)
from helpdesk.monitoring.errors.stacks import parse_stack
from helpdesk.monitoring.logging.redaction import Redactor

logger = logging.getLogger(__name__)

_LEVELS = {choice.value for choice in Level}
_LEVEL_ALIASES = {"critical": "fatal", "warn": "warning", "log": "info"}
_USER_FIELDS_KEPT = ("id",)
_IP_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded", "cf-connecting-ip", "true-client-ip")


@dataclass(frozen=True)
class Outcome:
    """What ingesting one event did."""

    event_id: str
    issue_id: int
    created: bool
    regressed: bool
    sampled: bool


def _redactor() -> Redactor:
    # Frame variables and breadcrumbs are bounded too; stack text is allowed to be long.
    return Redactor.from_environment(max_chars=settings.LOG_FIELD_MAX_CHARS)


def user_hash(value: str) -> str:
    """Return the keyed hash that identifies an affected user (never the id itself)."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"errors-user:" + value.encode(), hashlib.sha256).hexdigest()[:32]


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _timestamp(value: Any) -> datetime | None:
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


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


def prepare(
    event: dict[str, Any], project: Project, client_ip: str | None = None
) -> tuple[dict[str, Any], str | None]:
    """Return the normalised, source-mapped, scrubbed event and the affected user's hash."""
    event["event_id"] = _event_id(event.get("event_id"))
    level = str(event.get("level") or "error").lower()
    event["level"] = _LEVEL_ALIASES.get(level, level if level in _LEVELS else "error")
    _normalise_exceptions(event)
    _apply_source_maps(event)
    hashed = _privacy(event, project, client_ip)
    # Headers sent as [[name, value], …] pairs become a mapping the redactor can key on.
    request = event.get("request")
    if isinstance(request, dict) and isinstance(request.get("headers"), list):
        request["headers"] = {
            str(pair[0]): pair[1]
            for pair in request["headers"]
            if isinstance(pair, list | tuple) and len(pair) == 2
        }
    cleaned = _redactor().clean(event)
    return cleaned, hashed


def _bucket_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def _sql(template: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(template, params)
        return list(cursor.fetchall()) if cursor.description else []


def _at(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


_JSON = models.JSONField()


def _json(value: Any) -> Any:
    return _JSON.get_db_prep_value(value, connection)


def _upsert_issue(
    project: Project,
    facts: grouping.Grouping,
    *,
    level: str,
    release: str,
    environment: str,
    now: datetime,
) -> tuple[int, int, str, str, Any]:
    """Create the issue or count one more event; returns (id, event_count, status,
    last_release, environments). event_count 1 means it was just created."""
    table = ErrorIssue._meta.db_table
    rows = _sql(
        f"INSERT INTO {table} (project_id, fingerprint, title, culprit, level, first_seen, "  # noqa: S608 - table names from the models
        "last_seen, event_count, user_count, releases, environments, last_release, status, "
        "resolved_in_release, regression_count) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, 1, 0, %s, %s, %s, %s, '', 0) "
        f"ON CONFLICT (project_id, fingerprint) DO UPDATE SET "
        f"event_count = {table}.event_count + 1, last_seen = excluded.last_seen "
        "RETURNING id, event_count, status, last_release, environments",
        [
            project.pk,
            facts.fingerprint,
            facts.title,
            facts.culprit,
            level,
            _at(now),
            _at(now),
            _json([release] if release else []),
            _json([environment] if environment else []),
            release,
            Status.UNRESOLVED,
        ],
    )
    issue_id, count, status, last_release, environments = rows[0]
    return issue_id, count, status, last_release, environments


def _count_hour(issue_id: int, hour: datetime) -> int:
    """Count the event in its hour; returns the hour's count including it."""
    table = IssueHour._meta.db_table
    rows = _sql(
        f"INSERT INTO {table} (issue_id, hour, count) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT (issue_id, hour) DO UPDATE SET count = {table}.count + 1 RETURNING count",
        [issue_id, _at(hour)],
    )
    return int(rows[0][0])


def _count_minute(project: Project, now: datetime) -> None:
    table = ProjectMinute._meta.db_table
    _sql(
        f"INSERT INTO {table} (project_id, minute, count) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT (project_id, minute) DO UPDATE SET count = {table}.count + 1",
        [project.pk, _at(now.replace(second=0, microsecond=0))],
    )


def _new_user(issue_id: int, user: str) -> bool:
    """Remember an affected user of the issue; returns True the first time."""
    table = IssueUser._meta.db_table
    return bool(
        _sql(
            f"INSERT INTO {table} (issue_id, user_hash) VALUES (%s, %s) "  # noqa: S608
            "ON CONFLICT (issue_id, user_hash) DO NOTHING RETURNING id",
            [issue_id, user],
        )
    )


def _reopen(issue: ErrorIssue, release: str, now: datetime) -> bool:
    """Reopen a resolved or expired-ignored issue (read after this event was counted) when
    this event says so; True: regression."""
    status = issue.status
    if status == Status.UNRESOLVED:
        return False
    claim = ErrorIssue.objects.filter(pk=issue.pk, status=status)
    if status == Status.IGNORED:
        expired = (issue.ignored_until is not None and issue.ignored_until <= now) or (
            issue.ignored_until_count is not None and issue.event_count >= issue.ignored_until_count
        )
        if expired:
            claim.update(status=Status.UNRESOLVED, ignored_until=None, ignored_until_count=None)
        return False
    if status == Status.RESOLVED_NEXT_RELEASE and (
        not release or release == issue.resolved_in_release
    ):
        return False
    reopened = claim.update(
        status=Status.UNRESOLVED,
        regressed_at=now,
        regression_count=F("regression_count") + 1,
        resolved_at=None,
        resolved_in_release="",
    )
    return reopened == 1


def _remember(issue_id: int, release: str, environment: str) -> None:
    # Rare (a new release or environment): a read-modify-write under the row lock.
    with transaction.atomic():
        locked = ErrorIssue.objects.select_for_update().get(pk=issue_id)
        changed = []
        for field, value in (("releases", release), ("environments", environment)):
            seen = getattr(locked, field)
            if value and value not in seen and len(seen) < 100:
                setattr(locked, field, [*seen, value])
                changed.append(field)
        if release and locked.last_release != release:
            locked.last_release = release
            changed.append("last_release")
        if changed:
            locked.save(update_fields=changed)


def store(
    event: dict[str, Any],
    project: Project,
    *,
    source: str,
    user: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Group a prepared event into its issue, count it, and keep it if it is a sample."""
    now = now or timezone.now()
    data = json.dumps(event, separators=(",", ":"), default=str)
    if len(data) > settings.ERRORS_MAX_EVENT_BYTES:
        raise IngestError(
            413, f"Event too large: the limit is {settings.ERRORS_MAX_EVENT_BYTES} bytes."
        )
    facts = grouping.group(event)
    level = str(event["level"])
    release = _text(event.get("release"), 200)
    environment = _text(event.get("environment"), 64)
    with transaction.atomic():
        _commit_asynchronously()
        issue_id, created, regressed, sampled = _write(
            event,
            project,
            facts,
            data=data,
            level=level,
            release=release,
            environment=environment,
            source=source,
            user=user,
            now=now,
        )
    metrics.EVENTS.labels(project.slug, level, source).inc()
    if created:
        metrics.ISSUES_NEW.labels(project.slug).inc()
        logger.info("new error issue %s in %s: %s", issue_id, project.slug, facts.title)
    if regressed:
        metrics.ISSUES_REGRESSED.labels(project.slug).inc()
        logger.warning("error issue %s regressed in %s: %s", issue_id, project.slug, facts.title)
    return Outcome(event["event_id"], issue_id, created, regressed, sampled)


def _commit_asynchronously() -> None:
    # One event is not worth a disk flush: on PostgreSQL the ingestion transaction commits
    # without waiting for its WAL to reach the disk (synchronous_commit off for this
    # transaction only). A database crash can lose the last fraction of a second of events,
    # never corrupt anything; every other write of the app keeps the server's setting.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _write(
    event: dict[str, Any],
    project: Project,
    facts: grouping.Grouping,
    *,
    data: str,
    level: str,
    release: str,
    environment: str,
    source: str,
    user: str | None,
    now: datetime,
) -> tuple[int, bool, bool, bool]:
    """Write one event's rows in the caller's transaction; returns (issue id, created,
    regressed, sampled)."""
    issue_id, count, status, last_release, environments = _upsert_issue(
        project, facts, level=level, release=release, environment=environment, now=now
    )
    created = count == 1
    regressed = False
    if isinstance(environments, str):  # SQLite answers JSON as text
        environments = json.loads(environments)
    if not created and status != Status.UNRESOLVED:
        regressed = _reopen(ErrorIssue.objects.get(pk=issue_id), release, now)
    if not created and (
        (release and release != last_release)
        or (environment and environment not in (environments or []))
    ):
        _remember(issue_id, release, environment)
    if user and _new_user(issue_id, user):
        ErrorIssue.objects.filter(pk=issue_id).update(user_count=F("user_count") + 1)
    sampled = _count_hour(issue_id, _bucket_hour(now)) <= settings.ERRORS_SAMPLES_PER_HOUR
    if sampled:
        ErrorEvent.objects.create(
            issue_id=issue_id,
            event_id=event["event_id"],
            received_at=now,
            timestamp=_timestamp(event.get("timestamp")),
            level=level,
            release=release,
            environment=environment,
            source=source,
            size=len(data),
            data=event,
        )
    _count_minute(project, now)
    return issue_id, created, regressed, sampled


def ingest(
    event: dict[str, Any], project: Project, *, source: str = "sdk", client_ip: str | None = None
) -> Outcome:
    """Prepare and store one event (see the module docstring)."""
    prepared, user = prepare(event, project, client_ip)
    return store(prepared, project, source=source, user=user)
