"""Admin of the status page's public messages (staff write them; everyone reads them)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from helpdesk.monitoring.status.models import StatusMessage

logger = logging.getLogger(__name__)


@admin.register(StatusMessage)
class StatusMessageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "alert", "published", "visible_until", "created_by", "updated_at"]
    list_filter = ["published"]
    raw_id_fields = ["alert"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: StatusMessage, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
