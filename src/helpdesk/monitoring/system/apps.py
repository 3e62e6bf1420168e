"""Django app config of the system monitor (it brings the ``system-check`` command)."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class SystemMonitoringConfig(AppConfig):
    """Register the system monitor's management commands."""

    name = "helpdesk.monitoring.system"
    label = "monitoring_system"
    verbose_name = "System monitoring"
