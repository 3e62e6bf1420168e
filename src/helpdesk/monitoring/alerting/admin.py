"""Admin of the alert center: channels (routing, enable/disable), alerts, silences, outbox."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from helpdesk.monitoring.alerting.models import (
    Alert,
    Channel,
    Notification,
    Silence,
    WorkerHeartbeat,
)

logger = logging.getLogger(__name__)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "severities",
        "escalation",
        "digest",
        "enabled",
        "disabled_reason",
    ]
    list_filter = ["kind", "enabled", "escalation", "digest"]
    actions = ["enable"]

    @admin.action(description="Enable the selected channels")
    def enable(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        queryset.update(enabled=True, disabled_reason="", disabled_at=None)


class NotificationInline(admin.TabularInline):
    model = Notification
    extra = 0
    can_delete = False
    fields = ["channel", "kind", "status", "attempts", "sent_at", "last_error"]
    readonly_fields = ["channel", "kind", "status", "attempts", "sent_at", "last_error"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "severity",
        "status",
        "source",
        "starts_at",
        "ends_at",
        "acknowledged_at",
    ]
    list_filter = ["status", "severity", "source"]
    search_fields = ["name", "fingerprint"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    inlines = [NotificationInline]


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ["id", "starts_at", "ends_at", "created_by", "comment"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["idempotency_key", "channel", "kind", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "kind", "channel"]
    search_fields = ["idempotency_key"]
    actions = ["retry"]

    @admin.action(description="Retry the selected (dead) notifications")
    def retry(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        from django.utils import timezone

        queryset.filter(status="dead").update(
            status="pending", attempts=0, next_attempt_at=timezone.now()
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["worker_id", "hostname", "pid", "started_at", "beat_at"]
