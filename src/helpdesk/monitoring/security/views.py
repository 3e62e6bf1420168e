"""The security API, under /api/v1/monitoring/security/.

- ``GET events/``: stored security events, newest first, paginated; filters ``type`` (an OWASP
  action), ``ip``, ``user`` (a user id, or a username matched by its keyed hash), ``since`` /
  ``until`` (ISO 8601). Staff users or the monitoring token (helpdesk.monitoring.access).
- ``GET lockouts/``: active lockouts by scope (same access).
- ``POST lockouts/unlock/`` with ``{"ip": …}`` or ``{"username": …}``: lift a lockout. Staff
  users only: the monitoring token is read-only.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.lib.api import StrictFieldsMixin, datetime_param
from helpdesk.lib.drf import django_request
from helpdesk.monitoring.access import MONITORING_AUTHENTICATION, IsMonitoringReader, IsStaffUser
from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.lockout import account_key, engine, lift
from helpdesk.monitoring.security.models import SecurityEvent
from helpdesk.monitoring.security.usernames import hash_username

logger = logging.getLogger(__name__)


class SecurityEventSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="action")

    class Meta:
        model = SecurityEvent
        fields = [
            "id",
            "created_at",
            "type",
            "outcome",
            "client_ip",
            "user_id",
            "username_hash",
            "method",
            "path",
            "user_agent",
            "user_agent_class",
            "reason",
            "request_id",
            "details",
        ]


class _Monitoring(APIView):
    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsMonitoringReader]


@extend_schema(
    parameters=[
        OpenApiParameter("type", str, enum=sorted(events.ACTIONS), description="An OWASP action."),
        OpenApiParameter("ip", str, description="Client IP address."),
        OpenApiParameter("user", str, description="A user id, or a username (hashed to match)."),
        OpenApiParameter("since", datetime, description="ISO 8601: events at or after."),
        OpenApiParameter("until", datetime, description="ISO 8601: events before."),
    ]
)
class SecurityEventListView(_Monitoring, generics.ListAPIView):
    """List security events, newest first (filters: type, ip, user, since, until)."""

    serializer_class = SecurityEventSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[SecurityEvent]:
        query = SecurityEvent.objects.all()
        params = self.request.query_params
        action = params.get("type")
        if action is not None:
            if action not in events.ACTIONS:
                raise exceptions.ValidationError(
                    {"type": [f"Must be one of {sorted(events.ACTIONS)}."]}
                )
            query = query.filter(action=action)
        ip = params.get("ip")
        if ip:  # empty: no filter, like user
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise exceptions.ValidationError({"ip": ["Not an IP address."]}) from None
            query = query.filter(client_ip=ip)
        user = params.get("user")
        if user:
            match = Q(username_hash=hash_username(user))
            if user.isascii() and user.isdigit():  # not "²", which int() refuses
                match |= Q(user_id=int(user))
            query = query.filter(match)
        since = datetime_param(self.request, "since")
        until = datetime_param(self.request, "until")
        if since is not None:
            query = query.filter(created_at__gte=since)
        if until is not None:
            query = query.filter(created_at__lt=until)
        return query


class LockSerializer(serializers.Serializer):
    key = serializers.CharField()
    until = serializers.FloatField()
    retry_after = serializers.IntegerField()


class LockoutsSerializer(serializers.Serializer):
    ip = LockSerializer(many=True)
    account = LockSerializer(many=True)


class LockoutListView(_Monitoring):
    """Active lockouts by scope (ip, account: the account key is the username's keyed hash)."""

    @extend_schema(responses={200: LockoutsSerializer})
    def get(self, request: Request) -> Response:
        return Response(engine.describe())


class UnlockSerializer(StrictFieldsMixin, serializers.Serializer):
    ip = serializers.IPAddressField(required=False)
    username = serializers.CharField(required=False, max_length=150)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("ip")) == bool(attrs.get("username")):
            raise serializers.ValidationError("Give exactly one of ip or username.")
        return attrs


class UnlockView(APIView):
    """Lift the lockout of an IP or an account (staff users)."""

    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsStaffUser]

    @extend_schema(
        request=UnlockSerializer,
        responses={
            200: inline_serializer("SecurityUnlocked", {"unlocked": serializers.BooleanField()}),
            400: OpenApiResponse(description="Neither or both of ip and username."),
        },
    )
    def post(self, request: Request) -> Response:
        data = UnlockSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ip = data.validated_data.get("ip")
        username = data.validated_data.get("username")
        unlocked = lift(
            "ip" if ip else "account",
            ip or account_key(username),
            reason="unlocked by staff",
            request=django_request(request),
            user_id=request.user.pk,
            **({} if ip else {"username": username}),
        )
        return Response({"unlocked": unlocked})
