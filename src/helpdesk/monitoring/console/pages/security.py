"""Security: who is attacking, and who is locked out? Security events over the range by
type and by client, the latest events, the active login lockouts (staff can lift one here),
from ``helpdesk.monitoring.security``; the event rate by type over the range from the history."""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import reader_required, staff_required
from helpdesk.monitoring.console.charts import Chart, Series
from helpdesk.monitoring.console.views import FAIL, NONE, OK, WARN, render_page
from helpdesk.monitoring.history import query as q
from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.lockout import SCOPES, engine, lift
from helpdesk.monitoring.security.models import SecurityEvent

logger = logging.getLogger(__name__)

RECENT = 50
TOP_CLIENTS = 10
# The figures: label, the actions counted, and from how many on the figure warns.
FIGURES = (
    ("Failed logins", ("authn_login_fail",), 10),
    ("Lockouts started", ("authn_login_lock",), 1),
    ("Access denied", ("authz_fail",), 20),
    (
        "Attacks and abuse",
        (
            *sorted(a for a in events.ACTIONS if a.startswith("malicious_")),
            "excess_rate_limit_exceeded",
        ),
        1,
    ),
)
_ACCOUNT_KEY = re.compile(r"[0-9a-f]{64}")  # hash_username: 64 hex characters

charts.register(
    Chart(
        "security.events",
        "Security events per second",
        "req/s",
        (
            Series(
                "{type}",
                lambda w: q.rate("helpdesk_security_events_total", w, by=["type"]),
            ),
        ),
        "Security events by OWASP action (the most frequent first).",
    )
)


def event_summary(since: Any) -> dict[str, Any]:
    """Return counts by action and the busiest failing clients since ``since``."""
    recent = SecurityEvent.objects.filter(created_at__gte=since)
    by_action = dict(recent.values_list("action").annotate(n=Count("pk")).order_by("-n", "action"))
    figures = []
    for label, actions, warn_at in FIGURES:
        count = sum(by_action.get(action, 0) for action in actions)
        status = WARN if count >= warn_at else OK
        figures.append({"label": label, "value": count, "unit": "count", "status": status})
    clients = list(
        recent.filter(outcome="failure", client_ip__isnull=False)
        .values("client_ip")
        .annotate(n=Count("pk"))
        .order_by("-n", "client_ip")[:TOP_CLIENTS]
    )
    return {"figures": figures, "by_action": by_action, "clients": clients}


def lockouts() -> dict[str, Any]:
    """Return the active lockouts by scope, or an error when the lockout store cannot say."""
    try:
        found = engine.describe()
    except Exception as error:  # the shared cache down: say so, keep the page
        logger.warning("lockouts unavailable on the console: %s", type(error).__name__)
        return {"error": "The lockout store did not answer.", "rows": [], "status": NONE}
    rows = [
        {**lock, "scope": scope, "until": datetime.fromtimestamp(lock["until"], tz=UTC)}
        for scope in SCOPES
        for lock in found.get(scope, [])
    ]
    return {"error": "", "rows": rows, "status": FAIL if rows else OK}


@reader_required
def security_page(request: HttpRequest) -> HttpResponse:
    """Render the security page (``?type=`` filters the latest events)."""
    range_ = charts.range_of(request.GET.get("range"))
    since = timezone.now() - timedelta(seconds=range_.seconds)
    kind = request.GET.get("type", "")
    latest = SecurityEvent.objects.all()
    if kind in events.ACTIONS:
        latest = latest.filter(action=kind)
    else:
        kind = ""
    return render_page(
        request,
        "console/security.html",
        "security",
        {
            "summary": event_summary(since),
            "lockouts": lockouts(),
            "latest": list(latest[:RECENT]),
            "kind": kind,
            "actions": sorted(events.ACTIONS),
            "charts": ["security.events"],
        },
    )


def _valid(scope: str, key: str) -> bool:
    if scope == "ip":
        try:
            ipaddress.ip_address(key)
        except ValueError:
            return False
        return True
    return scope == "account" and _ACCOUNT_KEY.fullmatch(key) is not None


@staff_required
@require_POST
def unlock(request: HttpRequest) -> HttpResponse:
    """Lift one lockout (``scope`` ip|account, ``key`` the IP or the account key); staff only.

    Bad input answers 400; otherwise back to the security page with a message.
    """
    scope = request.POST.get("scope", "")
    key = request.POST.get("key", "").strip()
    if not _valid(scope, key):
        return HttpResponseBadRequest(
            "scope: ip or account; key: an IP address or an account key.",
            content_type="text/plain",
        )
    unlocked = lift(
        scope, key, reason="unlocked by staff", request=request, user_id=request.user.pk
    )
    if unlocked:
        messages.success(request, f"Lifted the lockout of {scope} {key[:16]}.")
    else:
        messages.info(request, f"{scope} {key[:16]} was not locked (its failures are forgotten).")
    return redirect(reverse("console:security") + _back(request))


def _back(request: HttpRequest) -> str:
    range_ = charts.range_of(request.POST.get("range"))
    return f"?range={range_.key}"
