"""Sample the app's own metrics into per-series rollups (the worker's ``history`` job).

Every ``HISTORY_SAMPLE_SECONDS`` the worker reads the same families /metrics serves (every
process's instruments and the scrape-time collectors) and folds each sample into the current
minute, in memory: a counter (histogram buckets, ``_count`` and ``_sum`` included) adds its
increase since the previous sample (a value lower than before is a reset: the increase is the
new value), a gauge keeps its last, lowest and highest value. When a sample falls in a new
minute the finished minute is written in one transaction together with the cumulative values
it ended on (the checkpoint), so:

- a worker restarted mid-sample or mid-minute starts from the checkpoint: what happened since
  is counted once, in the minute the restarted worker samples it; a checkpoint older than
  ``MAX_GAP_SECONDS`` is not trusted (the gap stays empty rather than one huge minute);
- two workers never both write: the sampler holds a lease on ``SamplerState``.

Closed hours are rolled up from their minutes (increases summed; last, lowest, highest), and
rows past ``HISTORY_MINUTE_RETENTION_HOURS`` / ``HISTORY_HOUR_RETENTION_DAYS`` are pruned with
the series nobody reported for as long. At most ``HISTORY_MAX_SERIES`` series are stored; the
samples of series over the cap are counted in ``SamplerState.dropped_series`` (served as
``helpdesk_history_dropped_series_total``) and logged once per minute.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min, OuterRef, Q, Subquery, Sum
from prometheus_client.core import Metric

from helpdesk.monitoring.history.models import Point, SamplerState, Series

logger = logging.getLogger(__name__)

MINUTE = 60
HOUR = 3600
MAX_GAP_SECONDS = 300
_COUNTER_TYPES = {"counter", "histogram"}
_SUMMARY_COUNTERS = ("_count", "_sum")

Ident = tuple[str, tuple[tuple[str, str], ...]]


def app_families() -> list[Metric]:
    """Return the families /metrics serves: every process's instruments and the collectors."""
    from helpdesk.monitoring.metrics.exposition import collect_custom
    from helpdesk.monitoring.metrics.reading import app_registry

    return [*app_registry().collect(), *collect_custom(settings.HELPDESK_METRICS_COLLECTORS)]


def series_key(name: str, labels: dict[str, str]) -> str:
    """Return the stored key of a series (a digest of its name and sorted labels)."""
    text = json.dumps([name, sorted(labels.items())], separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _readings(families: Iterable[Metric]) -> list[tuple[Ident, bool, float]]:
    """Return (identity, is_counter, value) per sample; ``_created`` samples are skipped."""
    readings = []
    for family in families:
        summary = family.type == "summary"
        counter = family.type in _COUNTER_TYPES
        for sample in family.samples:
            name = sample.name
            if not name.endswith("_created"):
                # A family's samples keep one label order, so the items are an identity as
                # they are; stored keys (``series_key``) sort them.
                ident = (name, tuple(sample.labels.items()))
                is_counter = counter or (summary and name.endswith(_SUMMARY_COUNTERS))
                readings.append((ident, is_counter, float(sample.value)))
    return readings


class Sampler:
    """Fold samples into minutes and write them (see the module docstring)."""

    def __init__(
        self,
        families: Callable[[], Iterable[Metric]] = app_families,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        self.families = families
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._holding = False
        self._ids: dict[Ident, int] = {}
        self._counter: dict[Ident, bool] = {}
        self._last: dict[Ident, float] | None = None
        self._minute: int | None = None
        self._acc: dict[Ident, list[float]] = {}
        self._resume_from: dict[str, tuple[int, float]] = {}

    # -- the lease ----------------------------------------------------------------------------

    def _claim(self, now: float) -> bool:
        # One UPDATE per sample; the state row (with its checkpoint) is read only on resume.
        lease = now + 4 * settings.HISTORY_SAMPLE_SECONDS
        free = Q(owner=self.owner) | Q(lease_until__lt=now)
        won = SamplerState.objects.filter(free, pk=1).update(owner=self.owner, lease_until=lease)
        if not won:  # the first sample ever creates the row; else another worker holds it
            _, won = SamplerState.objects.get_or_create(
                pk=1, defaults={"owner": self.owner, "lease_until": lease}
            )
        if won and not self._holding:
            self._resume(now)
        self._holding = bool(won)
        return self._holding

    def _resume(self, now: float) -> None:
        """Start from the last written minute's checkpoint (another worker's, or ours before
        a restart), unless it is too old to attribute its increase to the current minute."""
        state = SamplerState.objects.get(pk=1)
        self._acc, self._minute, self._last, self._resume_from = {}, None, None, {}
        if state.checkpoint and now - state.checkpoint_at <= MAX_GAP_SECONDS:
            by_id = {int(k): v for k, v in state.checkpoint.items()}
            rows = Series.objects.filter(id__in=list(by_id)).values_list("id", "key")
            self._resume_from = {key: (pk, by_id[pk]) for pk, key in rows}
            logger.info("history sampling resumes from the checkpoint of %s", state.checkpoint_at)

    def _resumed_last(self, readings: list[tuple[Ident, bool, float]]) -> dict[Ident, float]:
        """Match the checkpoint's series to this sample's readings by their stored key."""
        last = {}
        for ident, counter, _ in readings:
            if counter:
                found = self._resume_from.get(series_key(ident[0], dict(ident[1])))
                if found is not None:
                    self._ids[ident] = found[0]
                    last[ident] = found[1]
        self._resume_from = {}
        return last

    # -- sampling -----------------------------------------------------------------------------

    def sample(self) -> dict[str, Any]:
        """Take one sample (the worker's job); returns what it did."""
        now = self.clock()
        if not self._claim(now):
            return {"sampled": False, "reason": "another worker holds the lease"}
        # Read everything before changing any state: a failure here leaves the sampler as it was.
        readings = _readings(self.families())
        minute = int(now // MINUTE) * MINUTE
        written, flushed = 0, False
        if self._minute is not None and minute > self._minute:
            written, flushed = self._flush(), True
        if self._minute is None or minute > self._minute:
            self._minute = minute
            self._acc = {}
        if self._resume_from:
            self._last = self._resumed_last(readings)
        first = self._last is None
        last = self._last or {}
        current: dict[Ident, float] = {}
        acc = self._acc
        for ident, counter, value in readings:
            current[ident] = value
            self._counter[ident] = counter
            if counter:
                if first:
                    continue
                before = last.get(ident)
                # A new series started at zero between two samples; lower means a reset.
                increase = value if before is None or value < before else value - before
                slot = acc.get(ident)
                if slot is None:
                    acc[ident] = [increase, increase, increase]
                else:
                    slot[0] += increase
            else:
                slot = acc.get(ident)
                if slot is None:
                    acc[ident] = [value, value, value]
                else:
                    slot[0] = value
                    slot[1] = min(slot[1], value)
                    slot[2] = max(slot[2], value)
        self._last = current
        hours = self._maintain(now) if flushed else {}
        return {"sampled": True, "series": len(current), "written": written, **hours}

    def _resolve_ids(self, idents: Iterable[Ident], at: int) -> None:
        """Find or create the series rows of ``idents``, up to the cap; the rest are refused."""
        missing = [i for i in idents if i not in self._ids]
        if not missing:
            return
        keys = {series_key(name, dict(labels)): (name, labels) for name, labels in missing}
        for pk, key in Series.objects.filter(key__in=list(keys)).values_list("id", "key"):
            name, labels = keys.pop(key)
            self._ids[(name, labels)] = pk
        if not keys:
            return
        room = max(settings.HISTORY_MAX_SERIES - Series.objects.count(), 0)
        new = list(keys.items())
        accepted = new[:room]
        Series.objects.bulk_create(
            [
                Series(
                    key=key,
                    name=name,
                    labels=dict(labels),
                    kind="counter" if self._counter.get((name, labels)) else "gauge",
                    first_seen=at,
                    last_seen=at,
                )
                for key, (name, labels) in accepted
            ],
            ignore_conflicts=True,
        )
        created = Series.objects.filter(key__in=[key for key, _ in accepted])
        for pk, key in created.values_list("id", "key"):
            self._ids[keys[key]] = pk

    def _flush(self) -> int:
        """Write the finished minute and its checkpoint in one transaction; return rows."""
        minute = self._minute or 0
        self._resolve_ids(self._acc, minute)
        rows: list[tuple[int, int, int, float, float | None, float | None]] = []
        refused = 0
        for ident, (value, low, high) in self._acc.items():
            pk = self._ids.get(ident)
            if pk is None:
                refused += 1
            elif not self._counter[ident]:
                rows.append((pk, MINUTE, minute, value, low, high))
            elif value:
                rows.append((pk, MINUTE, minute, value, None, None))
        checkpoint = {
            str(self._ids[i]): v
            for i, v in (self._last or {}).items()
            if self._counter.get(i) and i in self._ids
        }
        with transaction.atomic():
            _upsert_points(rows)
            SamplerState.objects.filter(pk=1).update(
                checkpoint=checkpoint,
                checkpoint_at=minute + MINUTE,
                dropped_series=F("dropped_series") + refused,
            )
        if refused:
            logger.warning(
                "metrics history is full (HISTORY_MAX_SERIES=%d): %d series not stored for "
                "the minute at %d",
                settings.HISTORY_MAX_SERIES,
                refused,
                minute,
                extra={"event.action": "history_series_cap"},
            )
        return len(rows)

    # -- hours and retention ------------------------------------------------------------------

    def _maintain(self, now: float) -> dict[str, int]:
        """Roll up the hours closed since the last time, then prune (once per hour)."""
        hour = int(now // HOUR) * HOUR
        rolled_until = SamplerState.objects.values_list("rolled_until", flat=True).get(pk=1)
        rolled = 0
        if rolled_until < hour:
            rolled = rollup_hours(rolled_until, hour)
            SamplerState.objects.filter(pk=1).update(rolled_until=hour)
            seen = {i: pk for i, pk in self._ids.items() if i in (self._last or {})}
            Series.objects.filter(id__in=list(seen.values()), last_seen__lt=hour).update(
                last_seen=hour
            )
            rolled += prune(now)
            self._ids = seen  # pruned series are among the others
        return {"rolled_up": rolled} if rolled else {}


_UPSERT = (
    "INSERT INTO {table} (series_id, step, start, value, low, high) VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (series_id, step, start) DO UPDATE SET"
    " value = excluded.value, low = excluded.low, high = excluded.high"
)


def _upsert_points(rows: list[tuple[int, int, int, float, float | None, float | None]]) -> None:
    """Insert or replace minute rows with one executemany.

    The same statement as ``bulk_create(update_conflicts=True)`` (SQLite and PostgreSQL both
    speak ``ON CONFLICT … excluded``), without building a model instance per row: at 5 000
    series that was most of the sampler's CPU (benchmarks/bench_history.py).
    """
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(_UPSERT.format(table=Point._meta.db_table), rows)


def rollup_hours(since: int, until: int) -> int:
    """Write the hour rows of every closed hour in ``[since, until)`` from its minutes."""
    first = Point.objects.filter(step=MINUTE, start__gte=since, start__lt=until).aggregate(
        first=Min("start")
    )["first"]
    if first is None:
        return 0
    written = 0
    for hour in range(int(first // HOUR) * HOUR, until, HOUR):
        minutes = Point.objects.filter(step=MINUTE, start__gte=hour, start__lt=hour + HOUR)
        last = minutes.filter(series=OuterRef("series")).order_by("-start").values("value")[:1]
        rows = (
            minutes.values("series_id", "series__kind")
            .annotate(total=Sum("value"), low=Min("low"), high=Max("high"), last=Subquery(last))
            .order_by()
        )
        points = [
            Point(
                series_id=row["series_id"],
                step=HOUR,
                start=hour,
                value=row["total"] if row["series__kind"] == "counter" else row["last"],
                low=row["low"],
                high=row["high"],
            )
            for row in rows
        ]
        Point.objects.bulk_create(
            points,
            update_conflicts=True,
            unique_fields=["series", "step", "start"],
            update_fields=["value", "low", "high"],
        )
        written += len(points)
    return written


def prune(now: float) -> int:
    """Delete rows past their retention and series unseen for as long; return rows deleted."""
    minutes_before = int(now - settings.HISTORY_MINUTE_RETENTION_HOURS * HOUR)
    hours_before = int(now - settings.HISTORY_HOUR_RETENTION_DAYS * 24 * HOUR)
    deleted, _ = Point.objects.filter(step=MINUTE, start__lt=minutes_before).delete()
    more, _ = Point.objects.filter(step=HOUR, start__lt=hours_before).delete()
    gone, _ = Series.objects.filter(last_seen__lt=hours_before).delete()
    return deleted + more + gone
