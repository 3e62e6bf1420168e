"""The error tracking sources of the embedded evaluator (the catalogue's NewErrorIssue,
ErrorIssueRegression and ErrorSpike; their thresholds come from there). They read what
helpdesk.monitoring.errors stores, so the worker sees what every web process ingested.

- ``new_issues``: one alert per unresolved issue first seen within ``window_minutes``; it
  resolves when the window has passed (or the issue is resolved or ignored), so each new
  issue is told once.
- ``regressions``: the same for issues reopened by a new event.
- ``spikes``: one alert per project whose last full minute had at least ``min_per_minute``
  events and more than ``factor`` times its average minute of the hour before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from django.db.models import Sum

from helpdesk.monitoring.alerting.evaluator import Observation
from helpdesk.monitoring.errors.models import ErrorIssue, ProjectMinute, Status

logger = logging.getLogger(__name__)


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=UTC)


def _issue_observation(issue: ErrorIssue, what: str) -> Observation:
    return Observation(
        instance=f"issue-{issue.pk}",
        bad=True,
        labels={"project": issue.project.slug, "issue_id": str(issue.pk)},
        annotations={
            "description": f"{what} in {issue.project.slug}: {issue.title} ({issue.culprit}); "
            f"{issue.event_count} events, {issue.user_count} users.",
            "issue": f"/api/v1/monitoring/errors/issues/{issue.pk}/",
        },
        value=issue.event_count,
    )


class NewIssueSource:
    """Unresolved issues first seen within the window."""

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds

    def observe(self, now: float) -> list[Observation]:
        since = _at(now) - timedelta(seconds=self.window_seconds)
        issues = ErrorIssue.objects.filter(
            first_seen__gte=since, status=Status.UNRESOLVED
        ).select_related("project")
        return [_issue_observation(issue, "New error issue") for issue in issues[:100]]


class RegressionSource:
    """Unresolved issues reopened by a new event within the window."""

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds

    def observe(self, now: float) -> list[Observation]:
        since = _at(now) - timedelta(seconds=self.window_seconds)
        issues = ErrorIssue.objects.filter(
            regressed_at__gte=since, status=Status.UNRESOLVED
        ).select_related("project")
        return [_issue_observation(issue, "Regression") for issue in issues[:100]]


class SpikeSource:
    """Projects whose last full minute is far above their average minute of the hour before."""

    def __init__(self, factor: float, floor: float) -> None:
        self.factor, self.floor = factor, floor

    def observe(self, now: float) -> list[Observation]:
        minute = _at(now).replace(second=0, microsecond=0) - timedelta(minutes=1)
        last = {
            row["project__slug"]: row["count"]
            for row in ProjectMinute.objects.filter(minute=minute).values("project__slug", "count")
        }
        baseline = {
            row["project__slug"]: (row["total"] or 0) / 60
            for row in ProjectMinute.objects.filter(
                minute__gte=minute - timedelta(minutes=60), minute__lt=minute
            )
            .values("project__slug")
            .annotate(total=Sum("count"))
        }
        factor, floor = self.factor, self.floor
        observations = []
        for project, count in sorted(last.items()):
            usual = baseline.get(project, 0.0)
            observations.append(
                Observation(
                    instance=project,
                    bad=count >= floor and count > factor * usual,
                    labels={"project": project},
                    annotations={
                        "description": f"Project {project} received {count} error events in "
                        f"the last minute; its average minute of the hour before: {usual:.1f}."
                    },
                    value=count,
                )
            )
        return observations


def new_issues(values: Mapping[str, float]) -> NewIssueSource:
    """NewErrorIssue."""
    return NewIssueSource(values["window_minutes"] * 60)


def regressions(values: Mapping[str, float]) -> RegressionSource:
    """ErrorIssueRegression."""
    return RegressionSource(values["window_minutes"] * 60)


def spikes(values: Mapping[str, float]) -> SpikeSource:
    """ErrorSpike."""
    return SpikeSource(values["factor"], values["min_per_minute"])
