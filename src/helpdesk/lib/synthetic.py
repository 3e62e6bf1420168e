"""Mark the synthetic probes' requests, so user metrics and SLIs can leave them out.

The probe sends ``SYNTHETIC_HEADER`` with ``token()``, a value derived from SECRET_KEY (which
the web processes and the worker share): a client cannot hide its own traffic from the
metrics by sending the header without knowing the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)

SYNTHETIC_HEADER = "X-Synthetic-Probe"
_META_KEY = "HTTP_X_SYNTHETIC_PROBE"


def token() -> str:
    """Return the header value that marks a request as the app's own probe."""
    return hmac.new(settings.SECRET_KEY.encode(), b"synthetic-probe", hashlib.sha256).hexdigest()


def is_synthetic(request: HttpRequest) -> bool:
    """Return True when the request carries the probe's header with the right value."""
    sent = request.META.get(_META_KEY)
    return bool(sent) and hmac.compare_digest(str(sent), token())
