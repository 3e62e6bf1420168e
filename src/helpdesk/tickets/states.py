"""The ticket status state machine: the one place that says which moves are allowed."""

from __future__ import annotations

import logging

from django.db import models

logger = logging.getLogger(__name__)


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    EMAIL = "email", "Email"
    API = "api", "API"


# Closed is reachable only from resolved; resolved and closed tickets can be reopened.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.OPEN, Status.PENDING, Status.RESOLVED),
    Status.OPEN: (Status.PENDING, Status.RESOLVED),
    Status.PENDING: (Status.OPEN, Status.RESOLVED),
    Status.RESOLVED: (Status.OPEN, Status.CLOSED),
    Status.CLOSED: (Status.OPEN,),
}

# What a customer may do to their own ticket: reopen it or confirm a resolution.
CUSTOMER_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.RESOLVED: (Status.OPEN, Status.CLOSED),
    Status.CLOSED: (Status.OPEN,),
}

OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING)


def allowed_transitions(current: str, *, customer: bool = False) -> tuple[str, ...]:
    """Return the statuses a ticket in ``current`` may move to."""
    table = CUSTOMER_TRANSITIONS if customer else TRANSITIONS
    return table.get(current, ())
