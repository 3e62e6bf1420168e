"""Load demo data once: 3 organizations, their people and about 1 000 tickets."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from helpdesk.accounts.models import Membership, Organization, Role
from helpdesk.tickets.models import Comment, SLAPolicy, Ticket, TicketEvent
from helpdesk.tickets.states import Channel, Priority, Status

logger = logging.getLogger(__name__)

ORGS = [("Acme Corp", "acme"), ("Globex", "globex"), ("Initech", "initech")]
SUBJECTS = [
    "Cannot log in",
    "Invoice shows the wrong amount",
    "Export to CSV fails",
    "Password reset email never arrives",
    "Page is slow to load",
    "Feature request: dark mode",
    "Error 500 when saving profile",
    "Cannot attach a file",
    "Two-factor code rejected",
    "Report numbers do not add up",
]
# Weights give a realistic mix: most tickets done, a working set still open.
STATUS_WEIGHTS = {
    Status.NEW: 8,
    Status.OPEN: 14,
    Status.PENDING: 8,
    Status.RESOLVED: 30,
    Status.CLOSED: 40,
}
# Shares of tickets answered after their first-response time and resolved after their SLA.
FIRST_RESPONSE_LATE = 0.02
RESOLUTION_LATE = 0.12
PRIORITY_WEIGHTS = {Priority.LOW: 25, Priority.NORMAL: 50, Priority.HIGH: 18, Priority.URGENT: 7}


class Command(BaseCommand):
    help = "Load demo organizations, users and tickets (does nothing if they exist)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tickets", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args: Any, **options: Any) -> None:
        if Organization.objects.filter(slug__in=[slug for _, slug in ORGS]).exists():
            self.stdout.write("Demo data already present.")
            return
        with transaction.atomic():
            count = self._seed(options["tickets"], random.Random(options["seed"]))  # noqa: S311
        self.stdout.write(f"Loaded demo data: {len(ORGS)} organizations, {count} tickets.")

    def _seed(self, total: int, rng: random.Random) -> int:
        now = timezone.now()
        orgs = self._orgs(now)
        teams = [(org, *self._people(org)) for org in orgs]
        tickets = [self._ticket(rng, now, *teams[n % len(teams)]) for n in range(total)]
        Ticket.objects.bulk_create(tickets, batch_size=500)

        events: list[TicketEvent] = []
        comments: list[Comment] = []
        for ticket in Ticket.objects.filter(organization__in=orgs).order_by("id"):
            events.append(
                TicketEvent(
                    ticket=ticket, kind="created", to_value="new", created_at=ticket.created_at
                )
            )
            path = {
                Status.NEW: [],
                Status.OPEN: [(Status.NEW, Status.OPEN, ticket.first_response_at)],
                Status.PENDING: [(Status.NEW, Status.PENDING, ticket.first_response_at)],
                Status.RESOLVED: [(Status.NEW, Status.RESOLVED, ticket.resolved_at)],
                Status.CLOSED: [
                    (Status.NEW, Status.RESOLVED, ticket.resolved_at),
                    (Status.RESOLVED, Status.CLOSED, ticket.closed_at),
                ],
            }[Status(ticket.status)]
            for old, new, when in path:
                events.append(
                    TicketEvent(
                        ticket=ticket,
                        actor=ticket.assignee,
                        kind="status_changed",
                        from_value=old,
                        to_value=new,
                        created_at=when or ticket.created_at,
                    )
                )
            if ticket.first_response_at and ticket.assignee:
                comments.append(
                    Comment(
                        ticket=ticket,
                        author=ticket.assignee,
                        body="Thanks for reaching out, we are looking into it.",
                        created_at=ticket.first_response_at,
                    )
                )
                if rng.random() < 0.3:
                    comments.append(
                        Comment(
                            ticket=ticket,
                            author=ticket.assignee,
                            body="Internal note: reproduced on staging.",
                            public=False,
                            created_at=ticket.first_response_at + timedelta(minutes=5),
                        )
                    )
        TicketEvent.objects.bulk_create(events, batch_size=1000)
        Comment.objects.bulk_create(comments, batch_size=1000)
        return len(tickets)

    def _orgs(self, now: datetime) -> list[Organization]:
        orgs = []
        for name, slug in ORGS:
            org = Organization.objects.create(
                name=name, slug=slug, created_at=now - timedelta(days=120)
            )
            for priority, (first, resolve) in settings.HELPDESK_DEFAULT_SLA_MINUTES.items():
                SLAPolicy.objects.create(
                    organization=org,
                    priority=priority,
                    first_response_minutes=first,
                    resolution_minutes=resolve,
                )
            orgs.append(org)
        return orgs

    def _people(self, org: Organization) -> tuple[list[Any], list[Any]]:
        user_model = get_user_model()
        agents: list[Any] = []
        customers: list[Any] = []
        memberships: list[Membership] = []
        for i, role in enumerate([Role.ADMIN] + [Role.AGENT] * 3 + [Role.CUSTOMER] * 10):
            kind = "admin" if role == Role.ADMIN else role.value
            user = user_model(
                username=f"{org.slug}-{kind}{i}", email=f"{org.slug}-{kind}{i}@example.com"
            )
            # Demo people cannot log in until an admin sets a password for them.
            user.set_unusable_password()
            user.save()
            memberships.append(Membership(user=user, organization=org, role=role))
            (customers if role == Role.CUSTOMER else agents).append(user)
        # Demo memberships are nobody's role change: bulk_create sends no save signal, so the
        # security audit (authz_change) is not flooded with dozens of lines at first start.
        Membership.objects.bulk_create(memberships)
        return agents, customers

    def _ticket(
        self,
        rng: random.Random,
        now: datetime,
        org: Organization,
        agents: list[Any],
        customers: list[Any],
    ) -> Ticket:
        status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        priority = rng.choices(list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()))[0]
        first, resolve = settings.HELPDESK_DEFAULT_SLA_MINUTES[priority]
        if status == Status.NEW:
            # The queue: tickets waiting for their first answer, none of them overdue yet.
            created = now - timedelta(minutes=rng.randint(1, max(1, first // 2)))
        elif status in (Status.OPEN, Status.PENDING):
            # Work in progress is recent; about one in five is past its SLA.
            created = now - timedelta(minutes=rng.randint(5, int(resolve * 1.25)))
        else:
            created = now - timedelta(minutes=rng.randint(10, 90 * 24 * 60))
        # A few first answers come late (the first-response SLO's misses, well within its 95 %
        # objective); more tickets take longer to resolve than the SLA allows.
        answered_late = rng.random() < FIRST_RESPONSE_LATE
        resolved_late = rng.random() < RESOLUTION_LATE
        ticket = Ticket(
            organization=org,
            requester=rng.choice(customers),
            assignee=None if status == Status.NEW else rng.choice(agents),
            subject=rng.choice(SUBJECTS),
            description="Demo ticket generated by seed_demo.",
            status=status,
            priority=priority,
            channel=rng.choice(list(Channel)),
            created_at=created,
            sla_due_at=created + timedelta(minutes=resolve),
            first_response_due_at=created + timedelta(minutes=first),
        )
        if status != Status.NEW:
            took = rng.randint(first + 1, first * 2) if answered_late else rng.randint(1, first)
            responded = created + timedelta(minutes=took)
            ticket.first_response_at = min(responded, max(created, now - timedelta(minutes=1)))
        if status in (Status.RESOLVED, Status.CLOSED):
            took = (
                rng.randint(resolve + 1, resolve * 3) if resolved_late else rng.randint(5, resolve)
            )
            resolved = created + timedelta(minutes=took)
            closed = resolved + timedelta(hours=rng.randint(1, 72))
            if resolved >= now:
                # Too young to be done yet: it is still being worked on.
                ticket.status = Status.OPEN
            else:
                ticket.resolved_at = resolved
                if status == Status.CLOSED and closed >= now:
                    ticket.status = Status.RESOLVED
                elif status == Status.CLOSED:
                    ticket.closed_at = closed
        return ticket
