from __future__ import annotations

from django.contrib import admin

from helpdesk.accounts.models import ApiToken, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "organization__name"]
    autocomplete_fields = ["user", "organization"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["key_prefix", "user", "name", "created_at", "expires_at", "last_used_at"]
    search_fields = ["user__username", "key_prefix", "name"]
    # The hash is useless to a human and the raw key is never stored: tokens are only revoked.
    readonly_fields = ["key_prefix", "key_hash", "user", "created_at", "last_used_at"]

    def has_add_permission(self, request: object) -> bool:
        return False
