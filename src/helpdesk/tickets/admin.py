from __future__ import annotations

from django.contrib import admin

from helpdesk.tickets.models import Comment, SLAPolicy, Ticket, TicketEvent


class CommentInline(admin.StackedInline):
    model = Comment
    extra = 0
    raw_id_fields = ["author"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "subject",
        "organization",
        "status",
        "priority",
        "assignee",
        "created_at",
        "sla_due_at",
    ]
    list_filter = ["status", "priority", "channel", "organization"]
    search_fields = ["subject", "description"]
    raw_id_fields = ["requester", "assignee"]
    date_hierarchy = "created_at"
    list_select_related = ["organization", "assignee"]
    inlines = [CommentInline]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["id", "ticket", "author", "public", "created_at"]
    list_filter = ["public"]
    raw_id_fields = ["ticket", "author"]


@admin.register(TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    list_display = ["id", "ticket", "kind", "from_value", "to_value", "actor", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["ticket", "actor"]

    # The event trail is evidence: it is read in the admin, never edited there.
    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = ["organization", "priority", "first_response_minutes", "resolution_minutes"]
    list_filter = ["organization", "priority"]
