"""Projects with DSN keys, error issues (events grouped by fingerprint), sampled events.

- ``Project``: one per organization plus the platform's own (``organization`` empty). Its DSN
  is ``http(s)://<public_key>@<host>/<id>``; staff create projects and rotate keys.
- ``ErrorIssue``: the events of one fingerprint in one project, with exact counts, affected
  users (distinct keyed hashes, ``IssueUser``), releases and environments seen, and a status.
- ``IssueHour``: exact events per issue per hour, and how many of them were kept as samples.
- ``ErrorEvent``: a stored sample (at most ERRORS_SAMPLES_PER_HOUR per issue per hour), the
  scrubbed event JSON capped at ERRORS_MAX_EVENT_BYTES.
"""

from __future__ import annotations

import logging
import secrets

from django.db import models
from django.utils import timezone

from helpdesk.accounts.models import Organization

logger = logging.getLogger(__name__)

MAX_SEEN_VALUES = 100  # releases/environments remembered per issue


def new_public_key() -> str:
    """Return a fresh DSN public key (32 hex characters, like Sentry's)."""
    return secrets.token_hex(16)


class Project(models.Model):
    """Where events are sent: a DSN public key, allowed browser origins, privacy settings."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="error_projects"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    public_key = models.CharField(max_length=32, unique=True, default=new_public_key)
    key_rotated_at = models.DateTimeField(default=timezone.now)
    # Browser origins allowed to send (CORS), e.g. "https://app.example.org"; "*" allows any.
    # The app's own origin is always allowed; requests without an Origin (servers) too.
    allowed_origins = models.JSONField(default=list, blank=True)
    # Privacy: without these the client IP is dropped and user fields other than a keyed hash
    # of the id are removed before storage.
    store_ip_address = models.BooleanField(default=False)
    store_user_fields = models.BooleanField(default=False)
    # Events per minute accepted for this project; null: ERRORS_RATE_LIMIT_PER_MINUTE.
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_platform(self) -> bool:
        return self.organization_id is None

    def dsn(self, base_url: str) -> str:
        """Return the DSN for clients reaching the app at ``base_url`` (scheme://host[:port])."""
        scheme, _, host = base_url.rstrip("/").partition("://")
        return f"{scheme}://{self.public_key}@{host}/{self.pk}"

    def rotate_key(self) -> str:
        """Replace the public key and return it; the old DSN stops working (in other processes
        within ERRORS_PROJECT_CACHE_SECONDS)."""
        self.public_key = new_public_key()
        self.key_rotated_at = timezone.now()
        self.save(update_fields=["public_key", "key_rotated_at"])
        return self.public_key


class Status(models.TextChoices):
    UNRESOLVED = "unresolved", "Unresolved"
    RESOLVED = "resolved", "Resolved"
    RESOLVED_NEXT_RELEASE = "resolved_next_release", "Resolved in next release"
    IGNORED = "ignored", "Ignored"


class Level(models.TextChoices):
    DEBUG = "debug", "Debug"
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    FATAL = "fatal", "Fatal"


class ErrorIssue(models.Model):
    """Events with one fingerprint in one project (see the module docstring)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="issues")
    fingerprint = models.CharField(max_length=64)
    title = models.CharField(max_length=255)
    culprit = models.CharField(max_length=255, blank=True)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.ERROR)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    event_count = models.BigIntegerField(default=0)
    user_count = models.IntegerField(default=0)
    releases = models.JSONField(default=list, blank=True)
    environments = models.JSONField(default=list, blank=True)
    last_release = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.UNRESOLVED)
    # resolved_next_release: the release current when it was resolved; an event of another
    # release reopens the issue as a regression, events of this one are counted quietly.
    resolved_in_release = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # ignored: until this time and/or until this many more events (empty: for ever).
    ignored_until = models.DateTimeField(null=True, blank=True)
    ignored_until_count = models.BigIntegerField(null=True, blank=True)
    regressed_at = models.DateTimeField(null=True, blank=True)
    regression_count = models.IntegerField(default=0)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "fingerprint"], name="errors_issue_fp")
        ]
        indexes = [
            models.Index(fields=["project", "status", "-last_seen"], name="errors_issue_list"),
        ]

    def __str__(self) -> str:
        return self.title


class IssueUser(models.Model):
    """One affected user of an issue: a keyed hash of the user id, never the id itself."""

    issue = models.ForeignKey(ErrorIssue, on_delete=models.CASCADE, related_name="users")
    user_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issue", "user_hash"], name="errors_issue_user")
        ]

    def __str__(self) -> str:
        return self.user_hash


class IssueHour(models.Model):
    """Exact events of an issue in one hour; the first ERRORS_SAMPLES_PER_HOUR of them are
    stored as ErrorEvent."""

    issue = models.ForeignKey(ErrorIssue, on_delete=models.CASCADE, related_name="hours")
    hour = models.DateTimeField()
    count = models.IntegerField(default=0)

    class Meta:
        ordering = ["hour"]
        constraints = [models.UniqueConstraint(fields=["issue", "hour"], name="errors_issue_hour")]
        indexes = [models.Index(fields=["hour"], name="errors_hour_time")]

    def __str__(self) -> str:
        return f"{self.count} events at {self.hour:%Y-%m-%d %H:00}"


class ErrorEvent(models.Model):
    """A stored sample event: the scrubbed JSON as received, with its grouping facts."""

    issue = models.ForeignKey(ErrorIssue, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=32)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    timestamp = models.DateTimeField(null=True, blank=True)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.ERROR)
    release = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, default="sdk")
    size = models.IntegerField(default=0)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["issue", "-received_at"], name="errors_event_issue")]

    def __str__(self) -> str:
        return self.event_id


class ProjectMinute(models.Model):
    """Exact events of a project in one minute: the ErrorSpike rule compares the last minute
    with the hour before it. Kept for two days."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="minutes")
    minute = models.DateTimeField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "minute"], name="errors_project_minute")
        ]

    def __str__(self) -> str:
        return f"{self.count} events at {self.minute:%Y-%m-%d %H:%M}"
