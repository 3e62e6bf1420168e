"""Benchmark-only URL: what the ticket list must do and nothing else (bench_load.py).

One token lookup by hash (with its user), one query for a page of 20 tickets the user may see
(their organizations' as staff, else their own; requester and assignee names joined), orjson.
No DRF, no middleware, no filters, no count. Not part of the product.
"""

from __future__ import annotations

import hashlib

import orjson
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import path

from helpdesk.accounts.models import STAFF_ROLES, ApiToken, Membership
from helpdesk.tickets.models import Ticket

FIELDS = (
    "id",
    "organization_id",
    "requester_id",
    "requester__username",
    "assignee_id",
    "assignee__username",
    "subject",
    "description",
    "status",
    "priority",
    "channel",
    "created_at",
    "updated_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "sla_due_at",
)


def tickets(request: HttpRequest) -> HttpResponse:
    """Answer a page of 20 visible tickets as JSON for a valid bearer token, else 401."""
    raw = request.headers.get("Authorization", "").removeprefix("Bearer ")
    key_hash = hashlib.sha256(raw.encode()).hexdigest()
    token = ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
    if token is None or not token.user.is_active:
        return HttpResponse(status=401)
    staff = Membership.objects.filter(user_id=token.user_id, role__in=STAFF_ROLES).values(
        "organization_id"
    )
    rows = list(
        Ticket.objects.filter(Q(organization_id__in=staff) | Q(requester_id=token.user_id))
        .order_by("-created_at", "-id")
        .values(*FIELDS)[:20]
    )
    return HttpResponse(orjson.dumps({"results": rows}), content_type="application/json")


urlpatterns = [path("api/v1/tickets/", tickets)]
