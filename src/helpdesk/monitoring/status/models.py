"""Public messages operators write for the status page.

A message tied to an incident (a critical ``Alert``) shows under it; one without an alert is
a notice at the top of the page (planned maintenance, a known problem) until ``visible_until``.
Everything here is public: the admin says so next to the field.
"""

from __future__ import annotations

import logging

from django.db import models
from django.utils import timezone

from helpdesk.monitoring.alerting.models import Alert

logger = logging.getLogger(__name__)


class StatusMessage(models.Model):
    """One public message of the status page."""

    alert = models.ForeignKey(
        Alert,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        limit_choices_to={"severity": "critical"},
        related_name="status_messages",
        help_text="The incident (a critical alert) this message is about; empty: a notice.",
    )
    body = models.TextField(
        max_length=2000, help_text="Shown to everyone on /status/: no internal detail."
    )
    published = models.BooleanField(default=True)
    visible_until = models.DateTimeField(
        null=True, blank=True, help_text="A notice disappears then; empty: until unpublished."
    )
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["published", "created_at"])]

    def __str__(self) -> str:
        return self.body[:60]
