"""Django app of the embedded metrics history."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class HistoryConfig(AppConfig):
    """Per-series rollups of the app's own metrics, and the one query layer over them."""

    name = "helpdesk.monitoring.history"
    label = "history"
    verbose_name = "Metrics history"
    default_auto_field = "django.db.models.BigAutoField"
