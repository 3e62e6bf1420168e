"""WSGI entry point for gunicorn: ``gunicorn helpdesk.wsgi``."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from helpdesk.lib.middleware import ChunkedBodyReader

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
# Chunked bodies are read (bounded) here: Django itself only reads up to a Content-Length.
application = ChunkedBodyReader(get_wsgi_application(), settings.MAX_REQUEST_BODY_BYTES)
