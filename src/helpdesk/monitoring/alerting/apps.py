"""Django app of the alert center."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class AlertingConfig(AppConfig):
    """The alert center: alerts, silences, channels, the notification outbox."""

    name = "helpdesk.monitoring.alerting"
    label = "alerting"
    verbose_name = "Alerting"
    default_auto_field = "django.db.models.BigAutoField"
