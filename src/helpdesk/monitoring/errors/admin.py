"""Error tracking projects in the admin: staff create them and rotate their keys."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from helpdesk.monitoring.errors.models import Project

logger = logging.getLogger(__name__)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "organization", "public_key", "key_rotated_at"]
    readonly_fields = ["public_key", "key_rotated_at", "created_at"]
    prepopulated_fields = {"slug": ("name",)}
    actions = ["rotate_keys"]

    @admin.action(description="Rotate the DSN key (the old DSN stops working)")
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset:
            project.rotate_key()
            logger.info("error tracking key of project %s rotated in the admin", project.slug)
        self.message_user(request, f"Rotated {queryset.count()} key(s).", messages.SUCCESS)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.readonly_fields)
