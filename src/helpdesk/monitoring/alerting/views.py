"""The alert center's HTTP API.

- ``POST /api/v1/monitoring/alerts/alertmanager/``: Alertmanager's webhook, authenticated by
  ``Authorization: Bearer $ALERTMANAGER_WEBHOOK_TOKEN`` only (closed when the token is unset).
- ``/api/v1/monitoring/alerts/`` (list, filters), ``…/alerts/<id>/`` (with its notification
  history), ``…/alerts/<id>/ack/``; ``/api/v1/monitoring/silences/`` (list, create),
  ``…/silences/<id>/expire/``; ``/api/v1/monitoring/notifications/`` (the outbox, dead
  letters included): staff users or the monitoring token (helpdesk.monitoring.access).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.lib.api import PayloadTooLarge, datetime_param, loads_json
from helpdesk.lib.drf import django_request
from helpdesk.monitoring.access import (
    MONITORING_AUTHENTICATION,
    IsMonitoringReader,
    MonitoringPrincipal,
    bearer_matches,
)
from helpdesk.monitoring.alerting import alertmanager, services
from helpdesk.monitoring.alerting.models import Alert, Notification, Silence
from helpdesk.monitoring.alerting.serializers import (
    AlertDetailSerializer,
    AlertSerializer,
    NotificationSerializer,
    SilenceSerializer,
)

logger = logging.getLogger(__name__)


class AlertmanagerWebhookView(APIView):
    """Receive Alertmanager webhook notifications (payload version 4)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    @extend_schema(
        summary="Alertmanager webhook receiver (payload version 4)",
        request={"application/json": {"type": "object"}},
        responses={
            200: OpenApiResponse(description="Counts of alerts opened, resolved, unchanged."),
            400: OpenApiResponse(description="Malformed payload; detail names the problem."),
            401: OpenApiResponse(description="Missing or wrong webhook token."),
            413: OpenApiResponse(description="Body too large."),
        },
    )
    def post(self, request: Request) -> Response:
        token = settings.ALERTMANAGER_WEBHOOK_TOKEN
        if not token or not bearer_matches(django_request(request), token):
            return Response(
                {"detail": "A valid Alertmanager webhook token is required."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": 'Bearer realm="alertmanager"'},
            )
        limit = settings.ALERTMANAGER_WEBHOOK_MAX_BYTES
        body = django_request(request).body  # bounded by RequestBodyLimitMiddleware already
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body too large: the limit is {limit} bytes.")
        try:
            payload = loads_json(body)
        except exceptions.ParseError as error:
            return Response({"detail": f"The body is not valid JSON: {error.detail}"}, status=400)
        try:
            alerts = alertmanager.parse_webhook(payload)
        except alertmanager.PayloadError as error:
            return Response({"detail": str(error)}, status=400)
        counts = alertmanager.ingest(alerts)
        return Response({"received": len(alerts), **counts})


class _Monitoring(APIView):
    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsMonitoringReader]


def _actor(request: Request) -> tuple[Any, str]:
    if isinstance(request.user, MonitoringPrincipal):
        return None, "monitoring-token"
    return request.user, request.user.get_username()


class AlertListView(_Monitoring, generics.ListAPIView):
    """List alerts; filters: status, severity, source, since/until (ISO times on starts_at)."""

    serializer_class = AlertSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Alert]:
        query = Alert.objects.all()
        params = self.request.query_params
        for name, choices in (
            ("status", Alert.Status.values),
            ("severity", ["info", "warning", "error", "critical"]),
            ("source", Alert.Source.values),
        ):
            value = params.get(name)
            if value is not None:
                if value not in choices:
                    raise exceptions.ValidationError({name: [f"Must be one of {choices}."]})
                query = query.filter(**{name: value})
        since = datetime_param(self.request, "since")
        until = datetime_param(self.request, "until")
        if since is not None:
            query = query.filter(starts_at__gte=since)
        if until is not None:
            query = query.filter(starts_at__lt=until)
        return query


class AlertDetailView(_Monitoring, generics.RetrieveAPIView):
    """One alert with its notification history."""

    serializer_class = AlertDetailSerializer
    queryset = Alert.objects.prefetch_related("notifications__channel")


class AlertAckView(_Monitoring):
    """Acknowledge an alert: stops repeats and escalation. With ALERTMANAGER_URL set and an
    alert from Alertmanager, also silences it there for ALERT_ACK_SILENCE_SECONDS."""

    @extend_schema(
        summary="Acknowledge an alert",
        request=None,
        responses={200: OpenApiResponse(description="The alert, and whether it changed.")},
    )
    def post(self, request: Request, pk: int) -> Response:
        alert = get_object_or_404(Alert, pk=pk)
        user, name = _actor(request)
        body: dict[str, Any] = {"acknowledged": True, **alertmanager.acknowledge(alert, user, name)}
        body["alert"] = AlertSerializer(alert).data
        return Response(body)


class SilenceListView(_Monitoring, generics.ListCreateAPIView):
    """List silences (``?active=true`` for those in force) and create one."""

    serializer_class = SilenceSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Silence]:
        query = Silence.objects.all()
        if self.request.query_params.get("active") in {"1", "true"}:
            now = timezone.now()
            query = query.filter(starts_at__lte=now, ends_at__gt=now)
        return query

    def perform_create(self, serializer: Any) -> None:
        _, name = _actor(self.request)
        data = serializer.validated_data
        serializer.instance = services.create_silence(
            matchers=data["matchers"],
            starts_at=data.get("starts_at"),
            ends_at=data["ends_at"],
            comment=data.get("comment", ""),
            created_by=name,
        )


class SilenceExpireView(_Monitoring):
    """End a silence now."""

    @extend_schema(summary="End a silence now", request=None, responses={200: SilenceSerializer})
    def post(self, request: Request, pk: int) -> Response:
        silence = services.expire_silence(get_object_or_404(Silence, pk=pk))
        return Response(SilenceSerializer(silence).data)


class NotificationListView(_Monitoring, generics.ListAPIView):
    """The outbox: ``?status=dead`` lists the dead letters."""

    serializer_class = NotificationSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Notification]:
        query = Notification.objects.select_related("channel")
        value = self.request.query_params.get("status")
        if value is not None:
            if value not in Notification.Status.values:
                raise exceptions.ValidationError(
                    {"status": [f"Must be one of {Notification.Status.values}."]}
                )
            query = query.filter(status=value)
        return query
