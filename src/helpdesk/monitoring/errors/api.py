"""The staff API of error tracking, under /api/v1/monitoring/errors/.

Reading needs a staff account or the monitoring token; changes (projects, keys, statuses)
need a staff account (helpdesk.monitoring.access).

- ``projects/``: list (with DSNs), create; ``projects/<id>/``: read, change;
  ``projects/<id>/rotate-key/``: a new public key (the old DSN stops working within
  ERRORS_PROJECT_CACHE_SECONDS).
- ``issues/``: filters ``project`` (id or slug), ``status``, ``level``, ``release``,
  ``environment``, ``q`` (text in title or culprit); ``ordering`` by ``last_seen``,
  ``first_seen``, ``event_count`` or ``user_count`` (``-`` for descending; default
  ``-last_seen``).
- ``issues/<id>/``: the issue, its latest event and events per hour (``hours``, default 24).
- ``issues/<id>/events/``: its stored sample events, newest first.
- ``issues/<id>/status/``: ``{"status": "resolved" | "resolved_next_release" | "ignored" |
  "unresolved", "ignore_minutes": n, "ignore_count": n}``.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.lib.api import StrictFieldsMixin
from helpdesk.monitoring.access import MONITORING_AUTHENTICATION, IsMonitoringReader, IsStaffUser
from helpdesk.monitoring.errors.models import (
    ErrorEvent,
    ErrorIssue,
    IssueHour,
    Level,
    Project,
    Status,
)

logger = logging.getLogger(__name__)

ORIGIN_PATTERN = r"^(\*|https?://[^/\s]+/?)$"
ORDERINGS = ("last_seen", "first_seen", "event_count", "user_count")
MAX_HISTOGRAM_HOURS = 24 * 14


class _Reader(APIView):
    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsMonitoringReader]

    def get_permissions(self) -> list[Any]:
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            return [IsStaffUser()]
        return [IsMonitoringReader()]


class ProjectSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    dsn = serializers.SerializerMethodField()
    # Declared, not the model's JSONField: the schema then says "a list of strings" (a JSON
    # field is "anything", and null or an object would be valid input by the schema).
    # The pattern is in the schema too, so clients (and the fuzzer) know an origin's shape.
    allowed_origins = serializers.ListField(
        child=serializers.RegexField(
            ORIGIN_PATTERN,
            max_length=200,
            error_messages={"invalid": "An http(s) origin without a path, or *."},
        ),
        max_length=50,
        required=False,
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "organization",
            "dsn",
            "public_key",
            "key_rotated_at",
            "allowed_origins",
            "store_ip_address",
            "store_user_fields",
            "rate_limit_per_minute",
            "created_at",
        ]
        read_only_fields = ["public_key", "key_rotated_at", "created_at"]

    def get_dsn(self, project: Project) -> str:
        request = self.context.get("request")
        base = request.build_absolute_uri("/") if request is not None else "http://localhost/"
        return project.dsn(base)

    def validate_allowed_origins(self, value: list[str]) -> list[str]:
        return [origin.rstrip("/") for origin in value]


class ProjectListView(_Reader, generics.ListCreateAPIView):
    """List error tracking projects with their DSNs; staff create them."""

    serializer_class = ProjectSerializer
    queryset = Project.objects.all()
    filter_backends: list[Any] = []


class ProjectDetailView(_Reader, generics.RetrieveUpdateAPIView):
    """Read or change a project (origins, privacy, rate limit)."""

    serializer_class = ProjectSerializer
    queryset = Project.objects.all()


class RotateKeyView(_Reader):
    """Give a project a new public key; the old DSN stops working within seconds (staff)."""

    permission_classes = [IsStaffUser]

    @extend_schema(request=None, responses={200: ProjectSerializer})
    def post(self, request: Request, pk: int) -> Response:
        project = generics.get_object_or_404(Project, pk=pk)
        project.rotate_key()
        logger.info(
            "error tracking key of project %s rotated by user %s", project.slug, request.user.pk
        )
        return Response(ProjectSerializer(project, context={"request": request}).data)


class IssueSerializer(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = ErrorIssue
        fields = [
            "id",
            "project",
            "title",
            "culprit",
            "level",
            "status",
            "first_seen",
            "last_seen",
            "event_count",
            "user_count",
            "releases",
            "environments",
            "last_release",
            "resolved_in_release",
            "resolved_at",
            "ignored_until",
            "ignored_until_count",
            "regressed_at",
            "regression_count",
        ]


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ErrorEvent
        fields = [
            "id",
            "event_id",
            "received_at",
            "timestamp",
            "level",
            "release",
            "environment",
            "source",
            "size",
            "data",
        ]


class HourSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    count = serializers.IntegerField()


class IssueDetailSerializer(IssueSerializer):
    latest_event = serializers.SerializerMethodField()
    histogram = serializers.SerializerMethodField()

    class Meta(IssueSerializer.Meta):
        fields = [*IssueSerializer.Meta.fields, "latest_event", "histogram"]

    @extend_schema_field(EventSerializer(allow_null=True))
    def get_latest_event(self, issue: ErrorIssue) -> dict[str, Any] | None:
        event = issue.events.order_by("-received_at", "-id").first()
        return EventSerializer(event).data if event is not None else None

    @extend_schema_field(HourSerializer(many=True))
    def get_histogram(self, issue: ErrorIssue) -> list[dict[str, Any]]:
        hours = int(self.context.get("hours", 24))
        end = timezone.now().replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(hours=hours - 1)
        counts = dict(
            IssueHour.objects.filter(issue=issue, hour__gte=start).values_list("hour", "count")
        )
        return [
            {"hour": start + timedelta(hours=i), "count": counts.get(start + timedelta(hours=i), 0)}
            for i in range(hours)
        ]


def _choice(params: Any, name: str, choices: Any) -> str | None:
    value = params.get(name) or None  # an empty parameter is no filter
    if value is not None and value not in {c.value for c in choices}:
        raise exceptions.ValidationError({name: [f"Must be one of {[c.value for c in choices]}."]})
    return value


@extend_schema(
    parameters=[
        OpenApiParameter("project", str, description="Project id or slug."),
        OpenApiParameter("status", str, enum=[s.value for s in Status]),
        OpenApiParameter("level", str, enum=[level.value for level in Level]),
        OpenApiParameter("release", str),
        OpenApiParameter("environment", str),
        OpenApiParameter("q", str, description="Text in the title or culprit."),
        OpenApiParameter(
            "ordering",
            str,
            enum=[f"{sign}{name}" for name in ORDERINGS for sign in ("", "-")],
            description="- for descending; default -last_seen.",
        ),
    ]
)
class IssueListView(_Reader, generics.ListAPIView):
    """List error issues (filters and ordering in the module docstring)."""

    serializer_class = IssueSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[ErrorIssue]:
        params = self.request.query_params
        query = ErrorIssue.objects.select_related("project")
        project = params.get("project")
        if project:
            query = query.filter(
                Q(project__slug=project) | Q(project__pk=int(project))
                if project.isdigit()
                else Q(project__slug=project)
            )
        status = _choice(params, "status", Status)
        if status:
            query = query.filter(status=status)
        level = _choice(params, "level", Level)
        if level:
            query = query.filter(level=level)
        if params.get("release"):
            query = query.filter(_lists("releases", params["release"]))
        if params.get("environment"):
            query = query.filter(_lists("environments", params["environment"]))
        text = params.get("q", "").strip()
        if text:
            query = query.filter(Q(title__icontains=text) | Q(culprit__icontains=text))
        ordering = params.get("ordering") or "-last_seen"  # empty: the default
        if ordering.lstrip("-") not in ORDERINGS:
            raise exceptions.ValidationError({"ordering": [f"Must be one of {list(ORDERINGS)}."]})
        return query.order_by(ordering, "-id")


class IssueDetailView(_Reader, generics.RetrieveAPIView):
    """An issue with its latest event and events per hour."""

    serializer_class = IssueDetailSerializer
    queryset = ErrorIssue.objects.select_related("project")

    @extend_schema(parameters=[OpenApiParameter("hours", int, description="Histogram hours.")])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        raw = self.request.query_params.get("hours", "24")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_HISTOGRAM_HOURS:
            raise exceptions.ValidationError(
                {"hours": [f"A whole number from 1 to {MAX_HISTOGRAM_HOURS}."]}
            )
        context["hours"] = int(raw)
        return context


class IssueEventListView(_Reader, generics.ListAPIView):
    """The stored sample events of an issue, newest first."""

    serializer_class = EventSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[ErrorEvent]:
        issue = generics.get_object_or_404(ErrorIssue, pk=self.kwargs["pk"])
        return issue.events.order_by("-received_at", "-id")


class StatusChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    ignore_minutes = serializers.IntegerField(required=False, min_value=1, max_value=525600)
    ignore_count = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        ignoring = attrs["status"] == Status.IGNORED
        if not ignoring and ("ignore_minutes" in attrs or "ignore_count" in attrs):
            raise serializers.ValidationError(
                "ignore_minutes and ignore_count need status ignored."
            )
        return attrs


class IssueStatusView(APIView):
    """Resolve, resolve in the next release, ignore (for a while or a number of events) or
    reopen an issue (staff)."""

    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsStaffUser]

    @extend_schema(request=StatusChangeSerializer, responses={200: IssueSerializer})
    def post(self, request: Request, pk: int) -> Response:
        issue = generics.get_object_or_404(ErrorIssue, pk=pk)
        data = StatusChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        change = data.validated_data
        now = timezone.now()
        issue.status = change["status"]
        issue.resolved_at = (
            now if issue.status in (Status.RESOLVED, Status.RESOLVED_NEXT_RELEASE) else None
        )
        issue.resolved_in_release = (
            issue.last_release if issue.status == Status.RESOLVED_NEXT_RELEASE else ""
        )
        issue.ignored_until = (
            now + timedelta(minutes=change["ignore_minutes"])
            if "ignore_minutes" in change
            else None
        )
        issue.ignored_until_count = (
            issue.event_count + change["ignore_count"] if "ignore_count" in change else None
        )
        issue.save(
            update_fields=[
                "status",
                "resolved_at",
                "resolved_in_release",
                "ignored_until",
                "ignored_until_count",
            ]
        )
        logger.info("error issue %s set to %s by user %s", issue.pk, issue.status, request.user.pk)
        return Response(IssueSerializer(issue).data)


def _lists(field: str, value: str) -> Q:
    """Return a filter for rows whose JSON list ``field`` holds ``value``.

    SQLite (the embedded default) has no JSON containment lookup; there the item's JSON text
    is matched inside the list's text instead.
    """
    if connection.features.supports_json_field_contains:
        return Q(**{f"{field}__contains": [value]})
    return Q(**{f"{field}__icontains": json.dumps(value)})
