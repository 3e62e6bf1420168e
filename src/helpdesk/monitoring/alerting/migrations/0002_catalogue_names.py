"""Rename the embedded evaluator's old alert names to the catalogue's, in the alert history.

Before the one catalogue the embedded evaluator and the Prometheus rules named the same
conditions differently. Alerts (and silences matching them) follow the new names, so an
alert's history reads as one; built-in alerts get the fingerprint of their new label set, so
a firing one is adopted and resolved by the new rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db import migrations
from django.db.models import Q

logger = logging.getLogger(__name__)

RENAMED = {
    "HighErrorRatio": "HighErrorRate",
    "HighLatency": "HighResponseTime",
}


def new_name(name: str, labels: dict[str, Any], severity: str) -> str | None:
    """Return the catalogue's name for an old alert, or None when it kept its name."""
    if name in RENAMED:
        return RENAMED[name]
    if name == "ReadinessCheckFailing":
        return "DatabaseDown" if labels.get("check") == "database" else "HealthCheckFailing"
    if name == "TLSCertificateExpiring":
        critical = severity == "critical"
        return "TLSCertificateExpiryCritical" if critical else "TLSCertificateExpiringSoon"
    if name == "SystemResourceHigh":
        resource = str(labels.get("resource", ""))
        if resource == "cpu":
            return "HighCPUUsage"
        return "HighMemoryUsage" if resource == "memory" else "DiskSpaceLow"
    if name == "SecurityEventBurst":
        return {
            "authn_login_lock": "BruteForceAttack",
            "excess_rate_limit_exceeded": "RequestRateSpike",
        }.get(str(labels.get("event_action", "")), "ScanningDetected")
    return None


def _fingerprint(labels: dict[str, Any]) -> str:
    # The alert center's fingerprint (services.fingerprint_of), frozen here as of this migration.
    canonical = json.dumps({str(k): str(v) for k, v in labels.items()}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def forwards(apps: Any, schema_editor: Any) -> None:
    Alert = apps.get_model("alerting", "Alert")
    Silence = apps.get_model("alerting", "Silence")
    for alert in Alert.objects.all().iterator():
        name = new_name(alert.name, alert.labels or {}, alert.severity)
        if name is None:
            continue
        alert.name = name
        if alert.labels.get("alertname"):
            alert.labels["alertname"] = name
        if alert.source == "builtin":
            fingerprint = _fingerprint(alert.labels)
            # Keep the two constraints: one row per (fingerprint, starts_at), one firing row.
            clash = Q(starts_at=alert.starts_at)
            if alert.status == "firing":
                clash |= Q(status="firing")
            taken = Alert.objects.filter(clash, fingerprint=fingerprint).exclude(pk=alert.pk)
            if not taken.exists():
                alert.fingerprint = fingerprint
        alert.save(update_fields=["name", "labels", "fingerprint"])
    for silence in Silence.objects.all().iterator():
        changed = False
        for matcher in silence.matchers:
            if matcher.get("name") == "alertname" and not matcher.get("isRegex"):
                name = new_name(str(matcher.get("value")), {}, "")
                if name is not None:
                    matcher["value"], changed = name, True
        if changed:
            silence.save(update_fields=["matchers"])


class Migration(migrations.Migration):
    dependencies = [("alerting", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
