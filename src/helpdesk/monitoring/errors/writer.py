"""Write accepted events: a batch per transaction, and a write-behind buffer for the endpoint.

``write(pendings)`` stores a batch in one transaction of a handful of statements whatever its
size: one multi-row upsert counts the events of every issue (creating new ones), one counts
their hours (whose counts decide which events are kept as samples: the first
ERRORS_SAMPLES_PER_HOUR of each issue and hour), one inserts affected users, one the sample
events, one counts the projects' minutes. Counts stay exact; a status change (regression,
expired ignore) is claimed with a conditional UPDATE so one process wins, as with
healthchecks' ``Flip`` claims. On PostgreSQL the transaction commits asynchronously
(``synchronous_commit`` off for it alone): a database crash may lose the last fraction of a
second of events, never corrupt anything; every other write keeps the server's setting.

``buffer`` (one per process): the envelope endpoint answers once an event is accepted and
leaves the write to a background thread that flushes every ERRORS_WRITE_BEHIND_SECONDS (or
at ERRORS_WRITE_BEHIND_BATCH events, or when the process exits), so a burst costs one
transaction per batch instead of one per event. ERRORS_WRITE_BEHIND_SECONDS=0 writes in the
request. A batch the database refuses is logged and counted in
``errors_items_dropped_total{type="event_write_failed"}``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, models, transaction
from django.db.models import Case, F, When

from helpdesk.monitoring.errors import grouping, metrics
from helpdesk.monitoring.errors.models import (
    ErrorEvent,
    ErrorIssue,
    IssueHour,
    IssueUser,
    Project,
    ProjectMinute,
    Status,
)

logger = logging.getLogger(__name__)

_JSON = models.JSONField()
# user_count, resolved_in_release, regression_count of a new issue.
_ISSUE_DEFAULTS = ", 0, '', 0"


@dataclass(frozen=True)
class Outcome:
    """What ingesting one event did."""

    event_id: str
    issue_id: int
    created: bool
    regressed: bool
    sampled: bool


@dataclass(frozen=True)
class Pending:
    """An accepted event, prepared and grouped, waiting to be written (``writer``)."""

    project: Project
    event: dict[str, Any]
    facts: grouping.Grouping
    size: int
    level: str
    release: str
    environment: str
    source: str
    user: str | None
    received_at: datetime


def event_time(value: Any) -> datetime | None:
    """Return an event's ``timestamp`` (epoch seconds or ISO 8601) as a datetime, or None."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _sql(template: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(template, params)
        return list(cursor.fetchall()) if cursor.description else []


def _at(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _values(rows: int, columns: int, constants: str = "") -> str:
    row = "(" + ", ".join(["%s"] * columns) + constants + ")"
    return ", ".join([row] * rows)


def _hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _commit_asynchronously() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _upsert_issues(
    groups: dict[tuple[int, str], list[Pending]],
) -> dict[tuple[int, str], tuple[Any, ...]]:
    """Count each group's events on its issue, creating it; returns per key (id, event_count,
    status, last_release, environments) after the update."""
    table = ErrorIssue._meta.db_table
    params: list[Any] = []
    for (project_id, fingerprint), items in groups.items():
        first, last = items[0], items[-1]
        params += [
            project_id,
            fingerprint,
            first.facts.title,
            first.facts.culprit,
            first.level,
            _at(first.received_at),
            _at(last.received_at),
            len(items),
            _JSON.get_db_prep_value([first.release] if first.release else [], connection),
            _JSON.get_db_prep_value([first.environment] if first.environment else [], connection),
            first.release,
            Status.UNRESOLVED,
        ]
    rows = _sql(
        f"INSERT INTO {table} (project_id, fingerprint, title, culprit, level, first_seen, "  # noqa: S608 - table names from the models
        "last_seen, event_count, releases, environments, last_release, status, user_count, "
        "resolved_in_release, regression_count) "
        f"VALUES {_values(len(groups), 12, _ISSUE_DEFAULTS)} "
        f"ON CONFLICT (project_id, fingerprint) DO UPDATE SET event_count = "
        f"{table}.event_count + excluded.event_count, last_seen = excluded.last_seen "
        "RETURNING project_id, fingerprint, id, event_count, status, last_release, environments",
        params,
    )
    return {(row[0], row[1]): row[2:] for row in rows}


def _count_hours(counts: dict[tuple[int, datetime], int]) -> dict[tuple[int, datetime], int]:
    """Add each (issue, hour)'s events; returns the hours' counts before this batch."""
    table = IssueHour._meta.db_table
    keys = list(counts)
    params: list[Any] = []
    for issue_id, hour in keys:
        params += [issue_id, _at(hour), counts[issue_id, hour]]
    rows = _sql(
        f"INSERT INTO {table} (issue_id, hour, count) VALUES {_values(len(keys), 3)} "  # noqa: S608
        f"ON CONFLICT (issue_id, hour) DO UPDATE SET count = {table}.count + excluded.count "
        "RETURNING issue_id, count",
        params,
    )
    # An issue has one hour in a batch but at an hour's turn; match rows back by issue then.
    after: dict[int, list[int]] = defaultdict(list)
    for issue_id, count in rows:
        after[issue_id].append(int(count))
    before = {}
    for issue_id, hour in keys:
        counts_after = after[issue_id]
        total = counts_after.pop(0) if counts_after else counts[issue_id, hour]
        before[issue_id, hour] = total - counts[issue_id, hour]
    return before


def _count_minutes(counts: dict[tuple[int, datetime], int]) -> None:
    table = ProjectMinute._meta.db_table
    params: list[Any] = []
    for (project_id, minute), count in counts.items():
        params += [project_id, _at(minute), count]
    _sql(
        f"INSERT INTO {table} (project_id, minute, count) VALUES {_values(len(counts), 3)} "  # noqa: S608
        f"ON CONFLICT (project_id, minute) DO UPDATE SET count = {table}.count + excluded.count",
        params,
    )


def _count_users(pairs: set[tuple[int, str]]) -> None:
    """Remember affected users; add the new ones to their issues' user_count."""
    table = IssueUser._meta.db_table
    params = [value for pair in sorted(pairs) for value in pair]
    rows = _sql(
        f"INSERT INTO {table} (issue_id, user_hash) VALUES {_values(len(pairs), 2)} "  # noqa: S608
        "ON CONFLICT (issue_id, user_hash) DO NOTHING RETURNING issue_id",
        params,
    )
    new = Counter(row[0] for row in rows)
    if new:
        ErrorIssue.objects.filter(pk__in=new).update(
            user_count=F("user_count")
            + Case(*(When(pk=pk, then=count) for pk, count in new.items()), default=0)
        )


def _reopen(issue_id: int, releases: list[str], now: datetime) -> bool:
    """Reopen a resolved or expired-ignored issue (read after this batch was counted) when its
    events say so; returns True for a regression."""
    issue = ErrorIssue.objects.get(pk=issue_id)
    status = issue.status
    claim = ErrorIssue.objects.filter(pk=issue.pk, status=status)
    if status == Status.IGNORED:
        expired = (issue.ignored_until is not None and issue.ignored_until <= now) or (
            issue.ignored_until_count is not None and issue.event_count >= issue.ignored_until_count
        )
        if expired:
            claim.update(status=Status.UNRESOLVED, ignored_until=None, ignored_until_count=None)
        return False
    if status == Status.RESOLVED_NEXT_RELEASE and all(
        not release or release == issue.resolved_in_release for release in releases
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


def _remember(issue_id: int, releases: list[str], environments: list[str]) -> None:
    # Rare (a new release or environment): a read-modify-write under the row lock.
    locked = ErrorIssue.objects.select_for_update().get(pk=issue_id)
    changed = set()
    for field, values in (("releases", releases), ("environments", environments)):
        seen = list(getattr(locked, field))
        for value in values:
            if value and value not in seen and len(seen) < 100:
                seen.append(value)
                changed.add(field)
        setattr(locked, field, seen)
    latest = next((r for r in reversed(releases) if r), "")
    if latest and locked.last_release != latest:
        locked.last_release = latest
        changed.add("last_release")
    if changed:
        locked.save(update_fields=sorted(changed))


def write(pendings: list[Pending]) -> list[Outcome]:
    """Store a batch of accepted events in one transaction (see the module docstring)."""
    if not pendings:
        return []
    groups: dict[tuple[int, str], list[Pending]] = defaultdict(list)
    for item in pendings:
        groups[item.project.pk, item.facts.fingerprint].append(item)
    created: set[int] = set()
    regressed: set[int] = set()
    sampled: set[int] = set()  # indexes into pendings
    with transaction.atomic():
        _commit_asynchronously()
        issues = _upsert_issues(groups)
        issue_of = {key: issues[key][0] for key in groups}
        hours: Counter[tuple[int, datetime]] = Counter(
            (issue_of[p.project.pk, p.facts.fingerprint], _hour(p.received_at)) for p in pendings
        )
        before = _count_hours(hours)
        for key, items in groups.items():
            issue_id, count, status, last_release, environments = issues[key]
            if count == len(items):
                created.add(issue_id)
                continue
            if isinstance(environments, str):  # SQLite answers JSON as text
                environments = json.loads(environments)
            releases = [p.release for p in items]
            if status != Status.UNRESOLVED and _reopen(issue_id, releases, items[-1].received_at):
                regressed.add(issue_id)
            envs = [p.environment for p in items if p.environment]
            if any(r and r != last_release for r in releases) or any(
                e not in (environments or []) for e in envs
            ):
                _remember(issue_id, releases, envs)
        users = {(issue_of[p.project.pk, p.facts.fingerprint], p.user) for p in pendings if p.user}
        if users:
            _count_users(users)
        seen: Counter[tuple[int, datetime]] = Counter()
        events = []
        for index, item in enumerate(pendings):
            issue_id = issue_of[item.project.pk, item.facts.fingerprint]
            hour = (issue_id, _hour(item.received_at))
            seen[hour] += 1
            if before[hour] + seen[hour] <= settings.ERRORS_SAMPLES_PER_HOUR:
                sampled.add(index)
                events.append(
                    ErrorEvent(
                        issue_id=issue_id,
                        event_id=item.event["event_id"],
                        received_at=item.received_at,
                        timestamp=event_time(item.event.get("timestamp")),
                        level=item.level,
                        release=item.release,
                        environment=item.environment,
                        source=item.source,
                        size=item.size,
                        data=item.event,
                    )
                )
        if events:
            ErrorEvent.objects.bulk_create(events)
        _count_minutes(
            Counter(
                (p.project.pk, p.received_at.replace(second=0, microsecond=0)) for p in pendings
            )
        )
    return _announce(pendings, issue_of, created, regressed, sampled)


def _announce(
    pendings: list[Pending],
    issue_of: dict[tuple[int, str], int],
    created: set[int],
    regressed: set[int],
    sampled: set[int],
) -> list[Outcome]:
    """Count the written batch in the metrics, log new issues and regressions once each."""
    outcomes = []
    announced: set[int] = set()
    for index, item in enumerate(pendings):
        issue_id = issue_of[item.project.pk, item.facts.fingerprint]
        metrics.EVENTS.labels(item.project.slug, item.level, item.source).inc()
        first = issue_id not in announced
        announced.add(issue_id)
        if first and issue_id in created:
            metrics.ISSUES_NEW.labels(item.project.slug).inc()
            logger.info(
                "new error issue %s in %s: %s", issue_id, item.project.slug, item.facts.title
            )
        if first and issue_id in regressed:
            metrics.ISSUES_REGRESSED.labels(item.project.slug).inc()
            logger.warning(
                "error issue %s regressed in %s: %s", issue_id, item.project.slug, item.facts.title
            )
        outcomes.append(
            Outcome(
                item.event["event_id"],
                issue_id,
                first and issue_id in created,
                first and issue_id in regressed,
                index in sampled,
            )
        )
    return outcomes


class WriteBehindBuffer:
    """Accepted events waiting for the background writer of this process."""

    def __init__(self, background: bool = True) -> None:
        self.background = background  # False: only flush() writes (tests, tools)
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None  # the process whose thread runs (gunicorn forks)

    def add(self, pending: Pending) -> None:
        """Queue an event; it is written within ERRORS_WRITE_BEHIND_SECONDS."""
        self._queue.put(pending)
        if self.background and self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    threading.Thread(target=self._run, name="errors-writer", daemon=True).start()
                    atexit.register(self.flush)

    def flush(self) -> int:
        """Write everything queued now; returns how many events were written."""
        batch: list[Pending] = []
        while len(batch) < settings.ERRORS_WRITE_BEHIND_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            self._write(batch)
        return len(batch)

    def _write(self, batch: list[Pending]) -> None:
        try:
            write(batch)
        except DatabaseError as error:
            logger.warning("%d error events not stored: %s", len(batch), type(error).__name__)
            metrics.ITEMS_DROPPED.labels("event_write_failed").inc(len(batch))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            deadline = time.monotonic() + settings.ERRORS_WRITE_BEHIND_SECONDS
            batch = [first]
            while len(batch) < settings.ERRORS_WRITE_BEHIND_BATCH:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            close_old_connections()
            self._write(batch)
            if self._queue.empty():
                # Idle: give the connection back rather than hold it between bursts.
                connection.close()


buffer = WriteBehindBuffer()
