"""Query-string filters for the ticket list."""

from __future__ import annotations

import logging

import django_filters

from helpdesk.tickets.models import Ticket
from helpdesk.tickets.states import Channel, Priority, Status

logger = logging.getLogger(__name__)


class TicketFilter(django_filters.FilterSet):
    """Filter by status, priority, channel, people and a created range; bad values answer 400."""

    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    assignee = django_filters.NumberFilter(field_name="assignee_id")
    unassigned = django_filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    requester = django_filters.NumberFilter(field_name="requester_id")
    organization = django_filters.NumberFilter(field_name="organization_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Ticket
        fields: list[str] = []
