"""Label values of the browser metrics, each from a closed set.

- ``route``: the page's route, either declared by the page (``data-route``) or the Django route
  template its URL resolves to (as in ``http_route``), kept only when BROWSER_ROUTES lists it;
  anything else is ``other``.
- ``device``: desktop, mobile or tablet, from the User-Agent header.
- ``action``: an interaction's name when BROWSER_ACTIONS lists it, else ``other``.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import Resolver404, resolve

from helpdesk.monitoring.browser.budget import OTHER
from helpdesk.monitoring.metrics.middleware import route_template

logger = logging.getLogger(__name__)

_TABLET = re.compile(r"iPad|Tablet|PlayBook|Silk|Kindle|Android(?!.*Mobile)", re.IGNORECASE)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android|BlackBerry|Opera Mini|Windows Phone", re.I)


@lru_cache(maxsize=1024)
def device(user_agent: str) -> str:
    """Return ``tablet``, ``mobile`` or ``desktop`` for a User-Agent header."""
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


@lru_cache(maxsize=1024)
def _resolved(path: str) -> str | None:
    try:
        return route_template(resolve(path).route)
    except Resolver404:
        return None


def route(declared: str | None, page_url: str | None) -> str:
    """Return the route label of a page: its declared route, else the Django route template
    of its URL's path, when BROWSER_ROUTES allows it; else ``other``."""
    allowed: frozenset[str] = settings.BROWSER_ROUTE_SET
    if declared:
        return declared if declared in allowed else OTHER
    if page_url:
        template = _resolved(urlsplit(page_url).path or "/")
        if template is not None and template in allowed:
            return template
    return OTHER


def action(name: str) -> str:
    """Return the action label: ``name`` when BROWSER_ACTIONS allows it, else ``other``."""
    return name if name in settings.BROWSER_ACTION_SET else OTHER
