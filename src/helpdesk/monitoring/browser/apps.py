"""Browser monitoring as a Django app: its template tag puts the SDK on the platform's pages."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class BrowserConfig(AppConfig):
    name = "helpdesk.monitoring.browser"
    label = "browser_monitoring"
    verbose_name = "Browser monitoring"
