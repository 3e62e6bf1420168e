"""What Django REST framework lacks a public API for, in one small place."""

from __future__ import annotations

import logging

from django.http import HttpRequest
from rest_framework.request import Request

logger = logging.getLogger(__name__)


def django_request(request: Request) -> HttpRequest:
    """Return the Django ``HttpRequest`` a DRF ``Request`` wraps.

    DRF has no public accessor for it: it forwards attribute reads, but ``authenticate()``,
    the ``user_logged_in`` signal and our helpers typed for ``HttpRequest`` need the object
    itself. The one place that reads DRF's ``_request`` (tests/test_public_api.py allows it
    here only).
    """
    return request._request
