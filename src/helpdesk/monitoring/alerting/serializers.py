"""Serializers of the alert center API; the outbox never shows channel configuration."""

from __future__ import annotations

import logging
import re
from typing import Any

from rest_framework import serializers

from helpdesk.lib.api import StrictFieldsMixin
from helpdesk.monitoring.alerting.models import Alert, Notification, Silence

logger = logging.getLogger(__name__)


class NotificationSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name")

    class Meta:
        model = Notification
        fields = [
            "id",
            "alert",
            "channel",
            "kind",
            "idempotency_key",
            "status",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "last_error",
            "created_at",
        ]


class AlertSerializer(serializers.ModelSerializer):
    acknowledged_by = serializers.CharField(source="acknowledged_by_name")

    class Meta:
        model = Alert
        fields = [
            "id",
            "fingerprint",
            "name",
            "labels",
            "annotations",
            "severity",
            "status",
            "source",
            "generator_url",
            "starts_at",
            "ends_at",
            "acknowledged_by",
            "acknowledged_at",
        ]


class AlertDetailSerializer(AlertSerializer):
    notifications = NotificationSerializer(many=True, read_only=True)

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "notifications"]


class MatcherSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.RegexField(r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=100)
    value = serializers.CharField(max_length=500, allow_blank=True)
    isRegex = serializers.BooleanField(default=False)
    isEqual = serializers.BooleanField(default=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["isRegex"]:
            try:
                re.compile(attrs["value"])
            except re.error:
                raise serializers.ValidationError(
                    {"value": ["Not a valid regular expression."]}
                ) from None
        return attrs


class SilenceSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    matchers = MatcherSerializer(many=True, allow_empty=False)

    class Meta:
        model = Silence
        fields = [
            "id",
            "matchers",
            "starts_at",
            "ends_at",
            "comment",
            "created_by",
            "alertmanager_id",
        ]
        read_only_fields = ["id", "created_by", "alertmanager_id"]
        extra_kwargs = {"starts_at": {"required": False}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        starts = attrs.get("starts_at")
        if starts is not None and attrs["ends_at"] <= starts:
            raise serializers.ValidationError({"ends_at": ["Must be after starts_at."]})
        from django.utils import timezone

        if attrs["ends_at"] <= timezone.now():
            raise serializers.ValidationError({"ends_at": ["Must be in the future."]})
        attrs["matchers"] = [dict(m) for m in attrs["matchers"]]
        return attrs
