"""Query-string filters for the ticket list."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from helpdesk.lib.api import MAX_ID, parse_datetime_param
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.states import Channel, Priority, Status

logger = logging.getLogger(__name__)


class _UTCDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        try:
            return parse_datetime_param(str(value))
        except ValueError as error:
            raise forms.ValidationError(str(error), code="invalid") from None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time; one that overflows once converted to UTC is a field error."""

    field_class = _UTCDateTimeField


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An integer id in 1..MAX_ID: ``1e30``, ``1.5`` or 20 digits are field errors."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class TicketFilter(django_filters.FilterSet):
    """Filter by status, priority, channel, people and a created range; bad values answer 400."""

    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    assignee = IdFilter(field_name="assignee_id")
    unassigned = django_filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    requester = IdFilter(field_name="requester_id")
    organization = IdFilter(field_name="organization_id")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Ticket
        fields: list[str] = []

    # The form class, built once: django-filter builds a new class (and each filter's form
    # field) for every request, about a tenth of a ticket list's CPU. The filters take no
    # per-request arguments, and Django forms copy their fields per instance.
    _form_class: type[forms.Form] | None = None

    def get_form_class(self) -> type[forms.Form]:
        """Return the form validating the query string: the same class on every request."""
        cls = type(self)
        if cls.__dict__.get("_form_class") is None:
            cls._form_class = super().get_form_class()
        return cls.__dict__["_form_class"]
