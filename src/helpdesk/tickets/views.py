"""REST API views for tickets and comments, scoped to the caller's tenants."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from django.db.models import F, QuerySet
from django.http import Http404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from helpdesk.lib import request_context
from helpdesk.lib.drf import django_request
from helpdesk.monitoring.security.probes import report_object_probe
from helpdesk.tickets import services
from helpdesk.tickets.filters import TicketFilter
from helpdesk.tickets.models import Comment, Ticket
from helpdesk.tickets.serializers import (
    CommentSerializer,
    TicketCreateSerializer,
    TicketSerializer,
    TicketUpdateSerializer,
    TransitionSerializer,
)

logger = logging.getLogger(__name__)


def _as_validation_error(error: services.TicketError) -> ValidationError:
    detail: dict[str, Any] = {error.field: [error.message]}
    detail.update(error.extra)
    return ValidationError(detail)


class TenantScopedMixin:
    """Compute the caller's access once per request and expose it to serializers."""

    @property
    def access(self) -> services.Access:
        request: Request = self.request  # type: ignore[attr-defined]
        cached = getattr(request, "_helpdesk_access", None)
        if cached is None:
            cached = services.access_for(request.user)
            request._helpdesk_access = cached  # type: ignore[attr-defined]
            if cached.organization:
                # The tenant goes on the request's log lines (labels.organization).
                request_context.bind(organization=cached.organization)
        return cached

    def get_serializer_context(self) -> dict[str, Any]:
        context: dict[str, Any] = super().get_serializer_context()  # type: ignore[misc]
        context.update(access=self.access, now=timezone.now())
        return context


class _NamedPage:
    """The ticket list as Django's paginator reads it: counted as it is, the page fetched with
    the requester's and assignee's names as columns.

    Columns, not user instances: building two users per ticket was a quarter of the page
    query's CPU. Joined into the page only: joins in the count made PostgreSQL join every
    visible ticket (docs/benchmarks.md, "Load").
    """

    def __init__(self, tickets: QuerySet[Ticket]) -> None:
        self.tickets = tickets
        self.ordered = tickets.ordered

    def count(self) -> int:
        return self.tickets.count()

    def __getitem__(self, page: slice) -> QuerySet[Ticket]:
        named = self.tickets.annotate(
            requester_name=F("requester__username"), assignee_name=F("assignee__username")
        )
        return named[page]


class TicketViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Tickets: agents see their organizations' tickets, customers their own."""

    filterset_class = TicketFilter
    search_fields = ["subject", "description"]
    ordering_fields = ["created_at", "updated_at", "priority", "status", "sla_due_at", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[Ticket]:
        tickets = services.visible_tickets(self.request.user, self.access)
        if self.action == "list":
            # A list shows organization ids, never the organization; its user names are
            # joined into the page only (paginate_queryset).
            tickets = tickets.select_related(None)
        return tickets

    def paginate_queryset(self, queryset: QuerySet[Any, Any] | Sequence[Any]) -> list[Any] | None:
        if self.action == "list" and isinstance(queryset, QuerySet):
            # Django's paginator only counts and slices what it gets.
            queryset = cast(Sequence[Any], _NamedPage(queryset))
        return super().paginate_queryset(queryset)

    def filter_queryset(self, queryset: QuerySet[Any, Any]) -> QuerySet[Any, Any]:
        """Apply the list's filters, search and ordering; skip them where they change nothing.

        DRF runs the filter backends for one ticket too (get_object). With no query
        parameters they leave the tickets as they are but still build and validate the
        filter form, about an eighth of a ticket detail's CPU; with parameters they run as
        before, so a filter on a detail URL keeps its meaning and its 400s. Likewise the
        filter set is skipped when the query names none of its filters (a page, an ordering,
        a search): empty, every filter is a no-op and the form is always valid.
        """
        params = self.request.query_params
        if self.action != "list" and not params:
            return queryset
        filtering = any(name in params for name in TicketFilter.base_filters)
        for backend in list(self.filter_backends):
            if backend is DjangoFilterBackend and not filtering:
                continue
            queryset = backend().filter_queryset(self.request, queryset, self)
        return queryset

    def get_object(self) -> Ticket:
        try:
            ticket: Ticket = super().get_object()
        except Http404:
            # Another tenant's ticket stays a 404; the attempt is a security event.
            report_object_probe(django_request(self.request), Ticket, pk=self.kwargs.get("pk"))
            raise
        # A user of several organizations: the ticket's decides the request's tenant.
        request_context.bind(organization=ticket.organization.slug)
        return ticket

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "create":
            return TicketCreateSerializer
        if self.action in ("update", "partial_update"):
            return TicketUpdateSerializer
        if self.action == "transition":
            return TransitionSerializer
        if self.action == "comments":
            return CommentSerializer
        return TicketSerializer

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        try:
            serializer.instance = services.create_ticket(
                self.request.user, self.access, **serializer.validated_data
            )
        except services.TicketError as error:
            raise _as_validation_error(error) from None

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        ticket: Ticket = serializer.instance  # type: ignore[assignment]
        try:
            serializer.instance = services.update_ticket(
                ticket, self.request.user, self.access, **serializer.validated_data
            )
        except services.TicketError as error:
            raise _as_validation_error(error) from None
        except PermissionError as error:
            raise PermissionDenied(str(error)) from None

    @extend_schema(request=TransitionSerializer, responses={200: TicketSerializer})
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        """Move the ticket to another status along the state machine."""
        ticket = self.get_object()
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            ticket = services.transition(
                ticket, request.user, self.access, data.validated_data["status"]
            )
        except services.TicketError as error:
            raise _as_validation_error(error) from None
        return Response(TicketSerializer(ticket, context=self.get_serializer_context()).data)

    @extend_schema(methods=["GET"], request=None, responses={200: CommentSerializer(many=True)})
    @extend_schema(methods=["POST"], request=CommentSerializer, responses={201: CommentSerializer})
    @action(detail=True, methods=["get", "post"])
    def comments(self, request: Request, pk: str | None = None) -> Response:
        """List the ticket's comments (customers see public ones only) or add one."""
        ticket = self.get_object()
        staff = self.access.is_staff_of(ticket.organization_id)
        if request.method == "POST":
            data = CommentSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            try:
                comment = services.add_comment(
                    ticket,
                    request.user,
                    self.access,
                    data.validated_data["body"],
                    data.validated_data.get("public", True),
                )
            except services.TicketError as error:
                raise _as_validation_error(error) from None
            return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)
        comments: QuerySet[Comment] = ticket.comments.select_related("author")
        if not staff:
            comments = comments.filter(public=True)
        page = self.paginate_queryset(comments)
        return self.get_paginated_response(CommentSerializer(page, many=True).data)
