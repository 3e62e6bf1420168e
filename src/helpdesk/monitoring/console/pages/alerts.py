"""Alerts: what is firing, what fired lately, what is silenced, and did the notifications go
out? Acknowledge (stops repeats and escalation, as the alert center's API does), create a
silence from matchers and a duration, expire one; the notification log per channel with each
message's delivery state. Actions are staff-only POSTs; everything goes through the alert
center's services (helpdesk.monitoring.alerting)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from helpdesk.monitoring.alerting import alertmanager, services
from helpdesk.monitoring.alerting.models import Alert, Channel, Notification, Silence
from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.access import reader_required, staff_required
from helpdesk.monitoring.console.charts import Chart, Series, register
from helpdesk.monitoring.console.views import FAIL, NONE, OK, WARN, render_page
from helpdesk.monitoring.history import query as q

logger = logging.getLogger(__name__)

SEVERITY_STATUS = {"critical": FAIL, "warning": WARN, "info": NONE}
DELIVERY_STATUS = {"sent": OK, "pending": WARN, "sending": WARN, "dead": FAIL}
# Silence durations offered by the form: (value, label) → seconds.
DURATIONS = {
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "12h": 43200,
    "1d": 86400,
    "7d": 604800,
}
# Alertmanager's matcher syntax: name="value", name!="value", name=~"regex", name!~"regex";
# quotes are optional.
_MATCHER = re.compile(
    r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S.*?))\s*$'
)
RUNBOOK = re.compile(r"^(?:docs/runbooks/)?([A-Za-z0-9_]+)(?:\.md)?$")

register(
    Chart(
        "alerts.firing",
        "Alerts firing",
        "count",
        (Series("{severity}", lambda w: q.gauge("helpdesk_alerts_firing", by=["severity"])),),
        "Alerts firing at each moment, by severity.",
    )
)


def parse_matchers(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Parse one matcher a line (or comma-separated); return (matchers, errors)."""
    matchers, errors = [], []
    for raw in re.split(r"[\n,]", text):
        if not raw.strip():
            continue
        found = _MATCHER.match(raw)
        if not found:
            errors.append(f'"{raw.strip()}" is not a matcher (name="value", name=~"regex").')
            continue
        name, op = found.group(1), found.group(2)
        value = found.group(3) if found.group(3) is not None else found.group(4) or ""
        value = re.sub(r"\\(.)", r"\1", value)
        matchers.append(
            {"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")}
        )
    if not matchers and not errors:
        errors.append("Give at least one matcher.")
    return matchers, errors


def matcher_text(matcher: dict[str, Any]) -> str:
    """Write a matcher back in Alertmanager's syntax."""
    op = ("=" if matcher.get("isEqual", True) else "!") + ("~" if matcher.get("isRegex") else "")
    op = {"=": "=", "!": "!=", "=~": "=~", "!~": "!~"}[op]
    escaped = str(matcher["value"]).replace("\\", "\\\\").replace('"', '\\"')
    return f'{matcher["name"]}{op}"{escaped}"'


def runbook_name(alert: Alert) -> str:
    """Return the alert's runbook (the catalogue's docs/runbooks/<name>.md), or ""."""
    found = RUNBOOK.match(str(alert.annotations.get("runbook_url", "")) or alert.name)
    return found.group(1) if found else ""


def _alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "alert": alert,
        "status": SEVERITY_STATUS.get(alert.severity, NONE),
        "runbook": runbook_name(alert),
        "labels": sorted(alert.labels.items()),
    }


def _channels(since: Any) -> list[dict[str, Any]]:
    counts = {
        channel.pk: channel
        for channel in Channel.objects.annotate(
            sent=Count(
                "notifications",
                filter=Q(notifications__status="sent", notifications__created_at__gte=since),
            ),
            pending=Count(
                "notifications",
                filter=Q(
                    notifications__status__in=["pending", "sending"],
                    notifications__created_at__gte=since,
                ),
            ),
            dead=Count(
                "notifications",
                filter=Q(notifications__status="dead", notifications__created_at__gte=since),
            ),
        )
    }
    rows = []
    for channel in counts.values():
        log = (
            Notification.objects.filter(channel=channel, created_at__gte=since)
            .select_related("alert")
            .order_by("-created_at", "-id")[:10]
        )
        state = FAIL if not channel.enabled or channel.dead else WARN if channel.pending else OK
        rows.append(
            {
                "channel": channel,
                "status": state,
                "log": [{"n": n, "status": DELIVERY_STATUS.get(n.status, NONE)} for n in log],
            }
        )
    return rows


@reader_required
def alerts_page(request: HttpRequest) -> HttpResponse:
    """Render the Alerts page."""
    range_ = charts.range_of(request.GET.get("range"))
    now = timezone.now()
    since = now - timedelta(seconds=range_.seconds)
    firing = Alert.objects.filter(status=Alert.Status.FIRING).order_by("-starts_at", "-id")[:50]
    recent = Alert.objects.filter(status=Alert.Status.RESOLVED, ends_at__gte=since).order_by(
        "-ends_at", "-id"
    )[:50]
    silences = Silence.objects.filter(ends_at__gt=now - timedelta(days=1)).order_by("-ends_at")[:30]
    prefill = ""
    prefill_from = request.GET.get("silence", "")
    if prefill_from.isdigit():
        source = Alert.objects.filter(pk=int(prefill_from)).first()
        if source is not None:
            prefill = "\n".join(
                matcher_text({"name": k, "value": v}) for k, v in sorted(source.labels.items())
            )
    return render_page(
        request,
        "console/alerts.html",
        "alerts",
        {
            "firing": [_alert_row(alert) for alert in firing],
            "recent": [_alert_row(alert) for alert in recent],
            "silences": [
                {
                    "silence": silence,
                    "active": silence.active_at(now),
                    "matchers": [matcher_text(m) for m in silence.matchers],
                }
                for silence in silences
            ],
            "channels": _channels(since),
            "durations": list(DURATIONS),
            "prefill": prefill,
        },
    )


def _back(request: HttpRequest) -> HttpResponseRedirect:
    # Back to the page with the range and refresh the form carried (never an outside URL).
    query = request.POST.get("query", "")
    if not re.fullmatch(r"\?range=\w+(&refresh=\d+)?", query):
        query = ""
    return HttpResponseRedirect(reverse("console:alerts") + query)


@require_POST
@staff_required
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """Acknowledge a firing alert (the alert center's acknowledgement: no more repeats)."""
    alert = get_object_or_404(Alert, pk=pk)
    result = alertmanager.acknowledge(alert, request.user, request.user.get_username())
    if result.get("alertmanager_silence_error"):
        messages.error(request, result["alertmanager_silence_error"])
    messages.success(
        request,
        f"{alert.name} acknowledged."
        if result["changed"]
        else f"{alert.name} was already acknowledged.",
    )
    return _back(request)


@require_POST
@staff_required
def create_silence(request: HttpRequest) -> HttpResponse:
    """Create a silence from the form's matchers, duration and comment."""
    # Imported here: the serializers module loads DRF's settings, which import our API
    # helpers back; at module level that would make importing the pages order-dependent.
    from helpdesk.monitoring.alerting.serializers import SilenceSerializer

    matchers, errors = parse_matchers(request.POST.get("matchers", ""))
    seconds = DURATIONS.get(request.POST.get("duration", ""))
    if seconds is None:
        errors.append(f"Choose a duration: {', '.join(DURATIONS)}.")
    if not errors:
        serializer = SilenceSerializer(
            data={
                "matchers": matchers,
                "ends_at": (timezone.now() + timedelta(seconds=seconds or 0)).isoformat(),
                "comment": request.POST.get("comment", "")[:500],
            }
        )
        if serializer.is_valid():
            data = serializer.validated_data
            silence = services.create_silence(
                matchers=data["matchers"],
                ends_at=data["ends_at"],
                comment=data.get("comment", ""),
                created_by=request.user.get_username(),
            )
            messages.success(
                request, f"Silence {silence.pk} created until {silence.ends_at:%Y-%m-%d %H:%M} UTC."
            )
            return _back(request)
        errors.extend(_flatten(serializer.errors))
    for error in errors:
        messages.error(request, error)
    return _back(request)


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [line for key, value in errors.items() for line in _flatten(value, f"{key}: ")]
    if isinstance(errors, list):
        return [line for value in errors for line in _flatten(value, prefix)]
    return [f"{prefix}{errors}"]


@require_POST
@staff_required
def expire_silence(request: HttpRequest, pk: int) -> HttpResponse:
    """End a silence now."""
    silence = services.expire_silence(get_object_or_404(Silence, pk=pk))
    messages.success(request, f"Silence {silence.pk} expired.")
    return _back(request)


@reader_required
def runbook(request: HttpRequest, name: str) -> HttpResponse:
    """Show an alert's runbook (docs/runbooks/<name>.md of this installation) as text."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise Http404("No such runbook.")
    path = Path(settings.CONSOLE_RUNBOOK_DIR) / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise Http404("No such runbook.") from None
    return render_page(request, "console/runbook.html", "alerts", {"name": name, "text": text})
