"""Set tracing up once per process: gunicorn's ``post_fork`` in each web worker, ``helpdesk
worker`` when it starts.

``setup()`` does nothing unless ``settings.TRACING_ENABLED`` (an OTLP endpoint is set): off, the
SDK and the instrumentations are not even imported. On, ``provider.install`` builds the tracer
provider and instruments Django, psycopg and Redis.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def setup(role: str = "web") -> bool:
    """Set tracing up in this process if enabled; return whether it is on."""
    if not settings.TRACING_ENABLED:
        return False
    # Imported here so that a process without tracing never loads the SDK.
    from helpdesk.monitoring.tracing.provider import install

    return install(role)
