"""Django app config of the database inspector (it brings the ``db-stats`` command)."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class DatabaseMonitoringConfig(AppConfig):
    """Register the database inspector's management commands."""

    name = "helpdesk.monitoring.database"
    label = "monitoring_database"
    verbose_name = "Database monitoring"
