"""The built-in rules and the sink the worker evaluates them into.

The rules are built from the alert catalogue (``catalogue.py``): one per signal with an
embedded source, with the catalogue's names, thresholds (and ALERT_THRESHOLDS overrides),
``for``, labels and runbooks.
"""

from __future__ import annotations

import logging

from django.conf import settings

from helpdesk.monitoring.alerting import catalogue, evaluator

logger = logging.getLogger(__name__)


def default_rules() -> list[evaluator.Rule]:
    """Return the built-in rules with their sources."""
    return catalogue.embedded_rules()


def default_sink() -> evaluator.Sink:
    """Return Alertmanager when ALERTMANAGER_URL is set, else the alert center."""
    if settings.ALERTMANAGER_URL:
        return evaluator.AlertmanagerSink(
            settings.ALERTMANAGER_URL, settings.ALERT_EVALUATION_INTERVAL_SECONDS
        )
    return evaluator.DatabaseSink()
