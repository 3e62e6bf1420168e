"""Django app of the public status page."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class StatusConfig(AppConfig):
    """The public status page and its operator messages."""

    name = "helpdesk.monitoring.status"
    label = "status"
    verbose_name = "Public status page"
    default_auto_field = "django.db.models.BigAutoField"
