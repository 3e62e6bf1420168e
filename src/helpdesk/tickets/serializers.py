"""Ticket and comment representations for the REST API."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from rest_framework import serializers

from helpdesk.accounts.models import Organization
from helpdesk.lib.api import IdRelatedField, StrictFieldsMixin
from helpdesk.tickets.models import Comment, Ticket
from helpdesk.tickets.states import Status, allowed_transitions

logger = logging.getLogger(__name__)
User = get_user_model()


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class TicketSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A ticket as the API shows it; ids in, ids and usernames out."""

    organization = IdRelatedField(queryset=Organization.objects.all(), required=False)
    requester = IdRelatedField(queryset=User.objects.all(), required=False)
    assignee = IdRelatedField(queryset=User.objects.all(), required=False, allow_null=True)
    requester_name = serializers.CharField(source="requester.username", read_only=True)
    # No default: DRF skips a field's default in partial updates, which would drop the key
    # from a PATCH answer; allow_null alone renders an unassigned ticket's name as null.
    assignee_name = serializers.CharField(
        source="assignee.username", read_only=True, allow_null=True
    )
    allowed_transitions = serializers.SerializerMethodField()
    sla_breached = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "organization",
            "requester",
            "requester_name",
            "assignee",
            "assignee_name",
            "subject",
            "description",
            "status",
            "priority",
            "channel",
            "created_at",
            "updated_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "sla_due_at",
            "sla_breached",
            "allowed_transitions",
        ]
        read_only_fields = [
            "id",
            "created_at",
            "updated_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "sla_due_at",
        ]

    def get_allowed_transitions(self, ticket: Ticket) -> list[str]:
        access = self.context.get("access")
        customer = access is None or not access.is_staff_of(ticket.organization_id)
        return list(allowed_transitions(ticket.status, customer=customer))

    def get_sla_breached(self, ticket: Ticket) -> bool:
        if ticket.sla_due_at is None:
            return False
        done = ticket.resolved_at or ticket.closed_at
        if done is not None:
            return done > ticket.sla_due_at
        return self.context["now"] > ticket.sla_due_at

    def validate_status(self, value: str) -> str:
        if self.instance is None and value != Status.NEW:
            raise serializers.ValidationError("A new ticket starts as new.")
        return value


class TicketCreateSerializer(TicketSerializer):
    class Meta(TicketSerializer.Meta):
        read_only_fields = [*TicketSerializer.Meta.read_only_fields, "status"]


class TicketUpdateSerializer(TicketSerializer):
    # A ticket never changes tenant or requester. Declared again, not listed in
    # Meta.read_only_fields: DRF ignores that list for fields the class declares itself.
    organization = IdRelatedField(read_only=True)
    requester = IdRelatedField(read_only=True)


class TransitionSerializer(StrictFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)


class CommentSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    author_name = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "ticket", "author", "author_name", "body", "public", "created_at"]
        read_only_fields = ["id", "ticket", "author", "created_at"]

    def validate_body(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value
