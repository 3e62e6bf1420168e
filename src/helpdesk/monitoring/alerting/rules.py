"""The built-in rules and the sinks the worker evaluates them into.

``default_rules()`` wires each rule to its source; rules whose source's package is not
installed (system thresholds, security events) are left out rather than faked.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from django.conf import settings

from helpdesk.monitoring.alerting import evaluator, sources

logger = logging.getLogger(__name__)


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def default_rules() -> list[evaluator.Rule]:
    """Return the built-in rules with their sources."""
    window = sources.HttpWindow()
    # The health package's cached checks, when installed, so readiness is computed once.
    health = _optional("helpdesk.monitoring.health.runner")
    readiness = (
        sources.ReadinessSource(checks=health.readiness_statuses)
        if health is not None
        else sources.ReadinessSource()
    )
    rules = [
        evaluator.Rule(
            name="ReadinessCheckFailing",
            severity="critical",
            source=readiness,
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
    ]
    system_signals = _optional("helpdesk.monitoring.system.signals")
    system = _optional("helpdesk.monitoring.system")
    if system_signals is not None:
        rules.append(
            evaluator.Rule(
                name="SystemResourceHigh",
                severity="warning",
                source=sources.ThresholdSource(
                    system_signals.threshold_crossed,
                    system_signals.threshold_cleared,
                    observe_system=getattr(system, "observe", None),
                ),
                summary="A system resource stays over its threshold",
            )
        )
    security = _optional("helpdesk.monitoring.security.events")
    if security is not None and hasattr(security, "subscribe"):
        security.subscribe(sources.record_security_event)
        rules.append(
            evaluator.Rule(
                name="SecurityEventBurst",
                severity="warning",
                source=sources.SecurityEventSource(),
                summary="Security events: brute force or request floods",
            )
        )
    return rules


def default_sink() -> evaluator.Sink:
    """Return Alertmanager when ALERTMANAGER_URL is set, else the alert center."""
    if settings.ALERTMANAGER_URL:
        return evaluator.AlertmanagerSink(
            settings.ALERTMANAGER_URL, settings.ALERT_EVALUATION_INTERVAL_SECONDS
        )
    return evaluator.DatabaseSink()
