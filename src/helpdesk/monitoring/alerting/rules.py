"""The built-in rules and the sinks the worker evaluates them into.

``default_rules()`` wires each rule to its source. The sources read what the other monitoring
packages publish (health checks, system threshold signals, security events); those packages
never import this one.
"""

from __future__ import annotations

import logging

from django.conf import settings

from helpdesk.monitoring import system
from helpdesk.monitoring.alerting import evaluator, security_rules, sources
from helpdesk.monitoring.system import signals as system_signals

logger = logging.getLogger(__name__)


def default_rules() -> list[evaluator.Rule]:
    """Return the built-in rules with their sources."""
    window = sources.HttpWindow()
    return [
        evaluator.Rule(
            name="ReadinessCheckFailing",
            severity="critical",
            source=sources.ReadinessSource(),
            summary="A dependency of the app is unavailable",
            for_seconds=settings.ALERT_DEPENDENCY_FOR_SECONDS,
        ),
        evaluator.Rule(
            name="HighErrorRatio",
            severity="critical",
            source=sources.ErrorRatioSource(
                window, settings.ALERT_HTTP_5XX_RATIO, settings.ALERT_HTTP_MIN_REQUESTS
            ),
            summary="Many requests fail with a server error",
            for_seconds=settings.ALERT_HTTP_FOR_SECONDS,
        ),
        evaluator.Rule(
            name="HighLatency",
            severity="warning",
            source=sources.LatencySource(
                window, settings.ALERT_HTTP_P95_SECONDS, settings.ALERT_HTTP_MIN_REQUESTS
            ),
            summary="Requests are slow (p95)",
            for_seconds=settings.ALERT_HTTP_FOR_SECONDS,
        ),
        evaluator.Rule(
            name="NotificationDeliveryFailing",
            severity="error",
            source=sources.DeliveryFailingSource(),
            summary="Alert notifications cannot be delivered",
        ),
        evaluator.Rule(
            name="SystemResourceHigh",
            severity="warning",
            source=sources.ThresholdSource(
                system_signals.threshold_crossed,
                system_signals.threshold_cleared,
                observe_system=system.observe,
            ),
            summary="A system resource stays over its threshold",
        ),
        # Counted from the security events this package subscribes to (see apps.py).
        evaluator.Rule(
            name="SecurityEventBurst",
            severity="warning",
            source=sources.SecurityEventSource(),
            summary="Security events: brute force or request floods",
        ),
        # Per attacker and per host: BruteForceAttack, RequestRateSpike, TLSCertificateExpiring.
        *security_rules.rules(),
    ]


def default_sink() -> evaluator.Sink:
    """Return Alertmanager when ALERTMANAGER_URL is set, else the alert center."""
    if settings.ALERTMANAGER_URL:
        return evaluator.AlertmanagerSink(
            settings.ALERTMANAGER_URL, settings.ALERT_EVALUATION_INTERVAL_SECONDS
        )
    return evaluator.DatabaseSink()
