"""The error tracking app: connects the server-side capture of unhandled exceptions."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class ErrorsConfig(AppConfig):
    name = "helpdesk.monitoring.errors"
    label = "errors"
    verbose_name = "Error tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from helpdesk.monitoring.errors import server

        server.connect()
