"""Retention: events, hourly counts and issues older than ERRORS_RETENTION_DAYS go.

Run daily by the worker (``errors-purge`` job) and by ``helpdesk purge-errors``. Issues last
seen before the cut-off go with their events; issues seen since keep their counts. Minute
counts (only the ErrorSpike rule reads them) are kept two days. Deletes run in batches so a
large backlog never holds a long lock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Model, QuerySet
from django.utils import timezone

from helpdesk.monitoring.errors.models import ErrorEvent, ErrorIssue, IssueHour, ProjectMinute

logger = logging.getLogger(__name__)

BATCH = 5000
MINUTES_KEPT = timedelta(days=2)


def _delete_in_batches(query: QuerySet[Model]) -> int:
    total = 0
    while True:
        ids = list(query.values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        query.model._default_manager.filter(pk__in=ids).delete()
        total += len(ids)


def purge(before: datetime) -> dict[str, int]:
    """Delete what is older than ``before``; returns the counts by kind."""
    counts = {
        "events": _delete_in_batches(ErrorEvent.objects.filter(received_at__lt=before)),
        "hours": _delete_in_batches(IssueHour.objects.filter(hour__lt=before)),
        "issues": 0,
        "minutes": _delete_in_batches(
            ProjectMinute.objects.filter(minute__lt=timezone.now() - MINUTES_KEPT)
        ),
    }
    for issue in ErrorIssue.objects.filter(last_seen__lt=before).iterator():
        issue.delete()
        counts["issues"] += 1
    return counts


def purge_expired() -> dict[str, int]:
    """Apply ERRORS_RETENTION_DAYS (the worker's daily job)."""
    return purge(timezone.now() - timedelta(days=settings.ERRORS_RETENTION_DAYS))
