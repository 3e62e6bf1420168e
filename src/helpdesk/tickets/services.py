"""Ticket operations: who may see what, and every change a ticket goes through.

Views call these functions and nothing else writes tickets, so the state machine, the SLA and
the event trail are enforced in one place. Each operation runs in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from helpdesk.accounts.models import STAFF_ROLES, Membership, Organization
from helpdesk.tickets.models import Comment, SLAPolicy, Ticket, TicketEvent
from helpdesk.tickets.states import Status, allowed_transitions

logger = logging.getLogger(__name__)

AnyUser = Any  # a User or AnonymousUser; django-stubs cannot express the swappable model


class TicketError(Exception):
    """A requested change breaks a rule; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.extra = extra or {}


@dataclass(frozen=True)
class Access:
    """What one user may do, computed once per request from their memberships."""

    superuser: bool
    staff_org_ids: frozenset[int]
    member_org_ids: frozenset[int]
    # The slug of the user's only organization, for log context; None with several or none.
    organization: str | None = None

    def is_staff_of(self, org_id: int) -> bool:
        return self.superuser or org_id in self.staff_org_ids

    def can_see(self, ticket: Ticket, user: AnyUser) -> bool:
        return self.is_staff_of(ticket.organization_id) or ticket.requester_id == user.pk


_MEMBERSHIPS_SQL = """
    SELECT m.organization_id, m.role, o.slug
    FROM accounts_membership m JOIN accounts_organization o ON o.id = m.organization_id
    WHERE m.user_id = %s
"""


def access_for(user: AnyUser) -> Access:
    """Return the user's access: staff orgs (admin/agent) and all orgs they belong to."""
    if not user.is_authenticated:
        return Access(False, frozenset(), frozenset())
    # Every API request reads this: written as SQL because compiling the same queryset
    # (memberships with their organization's slug) cost four times the query itself, 0.38
    # against 0.09 ms of CPU, 5 % of a ticket list (docs/benchmarks.md, "Load").
    with connection.cursor() as cursor:
        cursor.execute(_MEMBERSHIPS_SQL, [user.pk])
        rows: list[tuple[int, str, str]] = cursor.fetchall()
    slugs = {slug for _, _, slug in rows}
    return Access(
        superuser=bool(getattr(user, "is_superuser", False)),
        staff_org_ids=frozenset(org for org, role, _ in rows if role in STAFF_ROLES),
        member_org_ids=frozenset(org for org, _, _ in rows),
        organization=slugs.pop() if len(slugs) == 1 else None,
    )


def visible_tickets(user: AnyUser, access: Access | None = None) -> QuerySet[Ticket]:
    """Return the tickets ``user`` may see: their orgs' tickets as staff, else their own."""
    access = access or access_for(user)
    qs = Ticket.objects.select_related("organization", "requester", "assignee")
    if access.superuser:
        return qs
    if not access.member_org_ids:
        return qs.none()
    return qs.filter(Q(organization_id__in=access.staff_org_ids) | Q(requester_id=user.pk))


def _policy_minutes(organization: Organization, priority: str) -> tuple[int, int]:
    """Return (first response, resolution) minutes of the org's SLA policy for ``priority``."""
    policy = SLAPolicy.objects.filter(organization=organization, priority=priority).first()
    if policy is not None:
        return policy.first_response_minutes, policy.resolution_minutes
    first, resolution = settings.HELPDESK_DEFAULT_SLA_MINUTES[priority]
    return first, resolution


def sla_due(organization: Organization, priority: str, created_at: datetime) -> datetime:
    """Return when a ticket of ``priority`` must be resolved, from the org's SLA policy."""
    return created_at + timedelta(minutes=_policy_minutes(organization, priority)[1])


def first_response_due(organization: Organization, priority: str, created_at: datetime) -> datetime:
    """Return when a ticket of ``priority`` must have its first response."""
    return created_at + timedelta(minutes=_policy_minutes(organization, priority)[0])


def _check_assignee(organization: Organization, assignee: Any) -> None:
    if assignee is None:
        return
    ok = Membership.objects.filter(
        user=assignee, organization=organization, role__in=STAFF_ROLES
    ).exists()
    if not ok:
        raise TicketError("assignee", "The assignee must be an agent of the ticket's organization.")


def _record(ticket: Ticket, actor: AnyUser, kind: str, old: str = "", new: str = "") -> None:
    TicketEvent.objects.create(
        ticket=ticket,
        actor=actor if actor.is_authenticated else None,
        kind=kind,
        from_value=old,
        to_value=new,
    )


def resolve_organization(
    user: AnyUser, access: Access, organization: Organization | None
) -> Organization:
    """Return the organization a new ticket goes to: the given one, or the user's only one."""
    if organization is not None:
        if not access.superuser and organization.pk not in access.member_org_ids:
            raise TicketError("organization", "You are not a member of this organization.")
        return organization
    if len(access.member_org_ids) == 1:
        return Organization.objects.get(pk=next(iter(access.member_org_ids)))
    raise TicketError("organization", "This field is required when you belong to several.")


@transaction.atomic
def create_ticket(user: AnyUser, access: Access, **fields: Any) -> Ticket:
    """Create a ticket; customers always raise it for themselves."""
    organization = resolve_organization(user, access, fields.pop("organization", None))
    staff = access.is_staff_of(organization.pk)
    requester = fields.pop("requester", None)
    if not staff:
        if requester is not None and requester.pk != user.pk:
            raise TicketError("requester", "Customers can only raise tickets for themselves.")
        if fields.get("assignee") is not None:
            raise TicketError("assignee", "Customers cannot assign tickets.")
        requester = user
    elif requester is None:
        requester = user
    elif not Membership.objects.filter(user=requester, organization=organization).exists():
        raise TicketError("requester", "The requester must belong to the ticket's organization.")
    _check_assignee(organization, fields.get("assignee"))
    now = timezone.now()
    ticket = Ticket.objects.create(
        organization=organization,
        requester=requester,
        created_at=now,
        sla_due_at=sla_due(organization, fields.get("priority", "normal"), now),
        first_response_due_at=first_response_due(
            organization, fields.get("priority", "normal"), now
        ),
        **fields,
    )
    _record(ticket, user, TicketEvent.Kind.CREATED, "", ticket.status)
    if ticket.assignee_id:
        _record(ticket, user, TicketEvent.Kind.ASSIGNED, "", str(ticket.assignee_id))
    return ticket


def _lock(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


@transaction.atomic
def transition(ticket: Ticket, user: AnyUser, access: Access, new_status: str) -> Ticket:
    """Move ``ticket`` to ``new_status`` if the state machine and the user's role allow it."""
    ticket = _lock(ticket)
    customer = not access.is_staff_of(ticket.organization_id)
    allowed = allowed_transitions(ticket.status, customer=customer)
    if new_status not in allowed:
        article = "an" if ticket.status[0] in "aeiou" else "a"
        raise TicketError(
            "status",
            f"Cannot move {article} {ticket.status} ticket to {new_status}.",
            {"allowed_transitions": list(allowed)},
        )
    old = ticket.status
    now = timezone.now()
    ticket.status = new_status
    if new_status == Status.RESOLVED:
        ticket.resolved_at = now
    elif new_status == Status.CLOSED:
        ticket.closed_at = now
    elif new_status == Status.OPEN and old in (Status.RESOLVED, Status.CLOSED):
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.save()
    _record(ticket, user, TicketEvent.Kind.STATUS_CHANGED, old, new_status)
    return ticket


@transaction.atomic
def update_ticket(ticket: Ticket, user: AnyUser, access: Access, **fields: Any) -> Ticket:
    """Change a ticket's fields (staff only); a status goes through ``transition``."""
    if not access.is_staff_of(ticket.organization_id):
        raise PermissionError("Only the organization's agents can edit a ticket.")
    new_status = fields.pop("status", None)
    if new_status is not None and new_status != ticket.status:
        ticket = transition(ticket, user, access, new_status)
    ticket = _lock(ticket)
    if "assignee" in fields:
        _check_assignee(ticket.organization, fields["assignee"])
        if fields["assignee"] != ticket.assignee:
            old = str(ticket.assignee_id or "")
            new = str(fields["assignee"].pk if fields["assignee"] else "")
            _record(ticket, user, TicketEvent.Kind.ASSIGNED, old, new)
    if "priority" in fields and fields["priority"] != ticket.priority:
        _record(
            ticket, user, TicketEvent.Kind.PRIORITY_CHANGED, ticket.priority, fields["priority"]
        )
        ticket.sla_due_at = sla_due(ticket.organization, fields["priority"], ticket.created_at)
        ticket.first_response_due_at = first_response_due(
            ticket.organization, fields["priority"], ticket.created_at
        )
    for name, value in fields.items():
        setattr(ticket, name, value)
    ticket.save()
    return ticket


@transaction.atomic
def add_comment(ticket: Ticket, user: AnyUser, access: Access, body: str, public: bool) -> Comment:
    """Add a comment; the first public one by an agent sets ``first_response_at``."""
    staff = access.is_staff_of(ticket.organization_id)
    if not public and not staff:
        raise TicketError("public", "Customers cannot write internal comments.")
    ticket = _lock(ticket)
    comment = Comment.objects.create(ticket=ticket, author=user, body=body, public=public)
    if public and staff and ticket.first_response_at is None and ticket.requester_id != user.pk:
        ticket.first_response_at = comment.created_at
        ticket.save(update_fields=["first_response_at", "updated_at"])
    _record(ticket, user, TicketEvent.Kind.COMMENTED, "", "public" if public else "internal")
    return comment


__all__ = [
    "Access",
    "TicketError",
    "access_for",
    "add_comment",
    "create_ticket",
    "transition",
    "update_ticket",
    "visible_tickets",
]


def first_response_outcomes(since: datetime | None, until: datetime) -> tuple[int, int]:
    """Return (met, missed) first responses whose outcome became known in (since, until].

    A response is met when it came by ``first_response_due_at``, known when it came; it is
    missed when it came late or not at all, known at the due time. With ``since`` None every
    outcome up to ``until`` counts (the cumulative counter of /metrics).
    """
    lower: dict[str, datetime] = {} if since is None else {"__gt": since}
    responded = {f"first_response_at{k}": v for k, v in lower.items()}
    due = {f"first_response_due_at{k}": v for k, v in lower.items()}
    met = Q(first_response_at__lte=F("first_response_due_at"), **responded) & Q(
        first_response_at__lte=until
    )
    missed = Q(first_response_due_at__lte=until, **due) & (
        Q(first_response_at=None) | Q(first_response_at__gt=F("first_response_due_at"))
    )
    row = Ticket.objects.aggregate(met=Count("pk", filter=met), missed=Count("pk", filter=missed))
    return row["met"], row["missed"]
