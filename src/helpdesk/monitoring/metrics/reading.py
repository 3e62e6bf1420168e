"""Read the app's own metrics from another process (the worker's alert rules and SLIs).

``app_registry()`` returns the registry holding the web processes' metrics: the web server's
workers write them to files in the multiprocess folder (``multiprocess.folder``); when that
folder exists it is read with a fresh registry through the locked ``MultiProcessReader``.
Otherwise this process's default registry (single-process setups, tests).
"""

from __future__ import annotations

import logging
import os

import prometheus_client
from django.conf import settings

from helpdesk.monitoring.metrics.multiprocess import MultiProcessReader, folder

logger = logging.getLogger(__name__)


def app_registry() -> prometheus_client.CollectorRegistry:
    """Return the registry holding the web processes' metrics."""
    path = folder(settings.DATA_DIR)
    if os.path.isdir(path):
        registry = prometheus_client.CollectorRegistry()
        registry.register(MultiProcessReader(path))
        return registry
    return prometheus_client.REGISTRY
