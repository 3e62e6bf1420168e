"""The metrics app: installs the database query timer on every connection."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class MetricsConfig(AppConfig):
    """Connect ``timing.install`` to ``connection_created`` (and to open connections)."""

    name = "helpdesk.monitoring.metrics"
    label = "metrics"

    def ready(self) -> None:
        from django.db import connections
        from django.db.backends.signals import connection_created

        from helpdesk.monitoring.metrics.timing import install

        connection_created.connect(install, dispatch_uid="helpdesk.metrics.query_timer")
        for connection in connections.all(initialized_only=True):
            install(connection)
