"""The security monitoring app: connects the event subscribers and the auth signal receivers."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class SecurityConfig(AppConfig):
    name = "helpdesk.monitoring.security"
    label = "security"
    verbose_name = "Security monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from helpdesk.monitoring.security import checks, events, receivers

        events.install_default_subscribers()
        receivers.connect()
        checks.register()
