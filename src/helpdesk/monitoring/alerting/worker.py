"""The background worker: periodic jobs, each in its own job context, with a heartbeat.

``Worker.run()`` loops until ``stop()`` (SIGTERM/SIGINT in the command): every job runs when
it is due, one at a time, inside ``helpdesk.lib.request_context.job_context`` so its logs
carry the job name and a run id. A job that raises is logged and retried at its next turn; it
never stops the loop. The heartbeat goes to the cache (cheap to read) and to a
``WorkerHeartbeat`` row (shared by every process even with the per-process cache);
``last_heartbeat()`` is what the worker's health check (``checks.py``) reads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from helpdesk.lib import outages
from helpdesk.lib.request_context import job_context
from helpdesk.monitoring.tracing.spans import job_span, mark_failed

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "alerting:worker:heartbeat"


@dataclass
class Job:
    """A function the worker calls every ``interval`` seconds."""

    name: str
    interval: float
    func: Callable[[], object]
    next_run: float = 0.0
    runs: int = 0
    failures: int = 0
    last_error: str = ""
    last_duration: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


class Worker:
    """Run jobs periodically until stopped."""

    def __init__(self, jobs: list[Job], clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = jobs
        self.clock = clock
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started_at = timezone.now()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to finish the current job and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_job(self, job: Job) -> None:
        """Run one job now in its own context; errors are logged, not raised."""
        start = self.clock()
        with job_context(job.name, worker_id=self.worker_id), job_span(job.name) as span:
            try:
                close_old_connections()
                result = job.func()
                job.last_error = ""
                if isinstance(result, dict):
                    job.stats = result
            except DatabaseError as error:
                # The database being down is reported by its own alert; one line per interval
                # for the whole process, not one per job and turn.
                job.failures += 1
                job.last_error = type(error).__name__
                mark_failed(span, error)
                outages.report("database", error, source=f"worker job {job.name}")
            except Exception as error:
                job.failures += 1
                job.last_error = type(error).__name__
                mark_failed(span, error)
                logger.exception(
                    "worker job %s failed", job.name, extra={"event.action": "worker_job_failed"}
                )
            finally:
                job.runs += 1
                job.last_duration = self.clock() - start
                job.next_run = start + job.interval

    def run_once(self) -> None:
        """Run every job once, in order."""
        for job in self.jobs:
            self.run_job(job)

    def run(self) -> None:
        """Loop until stopped, sleeping until the next job is due."""
        logger.info("worker %s started with jobs %s", self.worker_id, [j.name for j in self.jobs])
        while not self._stop.is_set():
            now = self.clock()
            due = [job for job in self.jobs if job.next_run <= now]
            for job in due:
                if self._stop.is_set():
                    break
                self.run_job(job)
            if self._stop.is_set():
                break
            wake = min(job.next_run for job in self.jobs)
            self._stop.wait(max(0.0, min(wake - self.clock(), 1.0)))
        logger.info("worker %s stopped", self.worker_id)

    def heartbeat(self) -> dict[str, Any]:
        """Record that this worker is alive (cache and database), with its clock's offset from
        the database's; returns what was written."""
        from helpdesk.monitoring.alerting.models import WorkerHeartbeat

        offset = clock_offset()
        now = timezone.now()
        jobs = {
            job.name: {"runs": job.runs, "failures": job.failures, "last_error": job.last_error}
            for job in self.jobs
        }
        beat = {"worker_id": self.worker_id, "beat_at": now.isoformat(), "jobs": jobs}
        try:
            cache.set(HEARTBEAT_CACHE_KEY, beat, timeout=3600)
        except Exception as error:
            # The readiness alert about the cache says why; one line here is enough.
            logger.warning("heartbeat not written to the cache: %s", type(error).__name__)
        # Rows of workers gone for a day are history nobody reads.
        WorkerHeartbeat.objects.filter(beat_at__lt=now - timedelta(days=1)).delete()
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname()[:200],
                "pid": os.getpid(),
                "started_at": self.started_at,
                "beat_at": now,
                "jobs": jobs,
                "clock_offset_seconds": offset,
            },
        )
        return beat


def clock_offset() -> float:
    """Return this process's wall clock minus the database's, in seconds.

    The database is the one clock every process shares: the web servers write its times
    next to the worker's. Read in one round trip, so the result is off by at most that
    round trip (a millisecond here); SQLite gives whole seconds.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_TIMESTAMP")
        (value,) = cursor.fetchone()
    if isinstance(value, str):  # SQLite: "YYYY-MM-DD HH:MM:SS" in UTC
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return time.time() - value.timestamp()


def last_heartbeat(hostname: str | None = None) -> datetime | None:
    """Return when any worker (or one on ``hostname``) last beat, or None.

    Any worker: the cache first, then the database. One host: its rows in the database.
    """
    from helpdesk.monitoring.alerting.models import WorkerHeartbeat

    if hostname is not None:
        row = WorkerHeartbeat.objects.filter(hostname=hostname[:200]).order_by("-beat_at").first()
        return row.beat_at if row else None
    beat = None
    try:
        beat = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:
        logger.debug("heartbeat cache unreadable", exc_info=True)
    if isinstance(beat, dict) and beat.get("beat_at"):
        return datetime.fromisoformat(beat["beat_at"])
    row = WorkerHeartbeat.objects.order_by("-beat_at").first()
    return row.beat_at if row else None


def heartbeat_age(now: datetime | None = None, hostname: str | None = None) -> float | None:
    """Return seconds since the last heartbeat (see ``last_heartbeat``), None when none."""
    last = last_heartbeat(hostname)
    if last is None:
        return None
    return ((now or timezone.now()) - last).total_seconds()
