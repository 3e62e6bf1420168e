"""Django app of the synthetic probes."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class ProbesConfig(AppConfig):
    """Synthetic probes of the public URL."""

    name = "helpdesk.monitoring.probes"
    label = "probes"
    verbose_name = "Synthetic probes"
    default_auto_field = "django.db.models.BigAutoField"
