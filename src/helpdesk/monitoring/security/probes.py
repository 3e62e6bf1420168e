"""Direct-reference probes: a lookup of an object that exists but is not the caller's.

Views answer such lookups with 404 (never 403, which would confirm the object exists); this
records the attempt as ``malicious_direct_reference`` (OWASP: accessing an object without the
authority to), e.g. a user of one organization asking for another organization's ticket.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import models
from django.http import HttpRequest

from helpdesk.monitoring.security.events import publish_for

logger = logging.getLogger(__name__)


def report_object_probe(request: HttpRequest, model: type[models.Model], **lookup: Any) -> bool:
    """Publish an event when ``model`` has an object matching ``lookup``; returns whether so."""
    try:
        exists = model._default_manager.filter(**lookup).exists()
    except (ValueError, TypeError):
        return False  # a malformed id names no object
    if exists:
        publish_for(
            request,
            "malicious_direct_reference",
            reason=f"{model._meta.label} outside the caller's access",
            object_type=model._meta.label,
            object_id=str(next(iter(lookup.values()), ""))[:64],
        )
    return exists
