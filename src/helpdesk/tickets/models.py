"""Tickets, comments, ticket events and SLA policies."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import models
from django.utils import timezone

from helpdesk.accounts.models import Organization
from helpdesk.tickets.states import Channel, Priority, Status

logger = logging.getLogger(__name__)


class SLAPolicy(models.Model):
    """Minutes to first response and to resolution for one priority in one organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sla_policies"
    )
    priority = models.CharField(max_length=16, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "priority"], name="one_sla_per_priority"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization} {self.priority}: {self.resolution_minutes} min"


class Ticket(models.Model):
    """A customer's request, worked by the agents of its organization."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="tickets")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    subject = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=20000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When the first response is due (the policy's first-response time): the first-response SLO.
    first_response_due_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["organization", "priority"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["requester", "status"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class Comment(models.Model):
    """A reply on a ticket. Internal comments are never shown to customers."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ticket_comments"
    )
    body = models.TextField(max_length=20000)
    public = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment {self.pk} on #{self.ticket_id}"


class TicketEvent(models.Model):
    """An append-only record of what happened to a ticket, for audit and business metrics."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS_CHANGED = "status_changed", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        PRIORITY_CHANGED = "priority_changed", "Priority changed"
        COMMENTED = "commented", "Commented"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    from_value = models.CharField(max_length=64, blank=True)
    to_value = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self) -> str:
        return f"#{self.ticket_id} {self.kind} {self.from_value}->{self.to_value}"
