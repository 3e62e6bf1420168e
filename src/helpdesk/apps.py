"""The project's own app: registers the configuration checks of settings.py.

It also makes ``helpdesk/static/`` (the bundles esbuild builds from frontend/) an app static
folder, found by Django's app-directories finder.
"""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class HelpdeskConfig(AppConfig):
    name = "helpdesk"
    label = "helpdesk"
    verbose_name = "Helpdesk Platform"

    def ready(self) -> None:
        from helpdesk import checks

        checks.register()
