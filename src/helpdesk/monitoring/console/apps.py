"""Django app of the monitoring console (templates, URLs; no models)."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class ConsoleConfig(AppConfig):
    """The console's app: its templates live in templates/console/."""

    name = "helpdesk.monitoring.console"
    label = "console"
    verbose_name = "Monitoring console"
