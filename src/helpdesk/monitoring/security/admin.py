"""Read-only admin of security events: the audit trail is not edited by hand."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from helpdesk.monitoring.security.models import SecurityEvent, TlsProbeResult

logger = logging.getLogger(__name__)


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "outcome", "client_ip", "user_id", "path", "reason"]
    list_filter = ["action", "outcome", "user_agent_class"]
    search_fields = ["client_ip", "path", "reason"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TlsProbeResult)
class TlsProbeResultAdmin(admin.ModelAdmin):
    list_display = ["host", "checked_at", "success", "not_after", "error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
