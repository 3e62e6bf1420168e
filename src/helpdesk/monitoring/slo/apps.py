"""Django app of the service level objectives."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class SloConfig(AppConfig):
    """SLOs, error budgets and burn rates."""

    name = "helpdesk.monitoring.slo"
    label = "slo"
    verbose_name = "Service level objectives"
    default_auto_field = "django.db.models.BigAutoField"
