"""Label values of the browser metrics, each from a closed set.

- ``route``: the page's route. A route the page declares (``data-route``) is kept only when
  BROWSER_ROUTES lists it: it is the client's text. Without one, the server resolves the
  page URL's path against the URLconf to the request metrics' route label (the Django route
  template; ``admin/*`` for every admin page):
  kept when BROWSER_ROUTES lists it, or when it is one of the first BROWSER_RESOLVED_ROUTES
  templates seen (a slot each in the shared cache, so every process keeps the same ones);
  paths that resolve to nothing or to an untracked path (health, metrics, static files), and
  templates past the slots, are ``other``.
- ``device``: desktop, mobile or tablet, from the User-Agent header.
- ``action``: an interaction's name when BROWSER_ACTIONS lists it, else ``other``.

Why resolve on the server rather than have pages declare their template: the SDK already
sends the page URL, every page (the admin's, a page without our template tag) gets its route
without a template change, and a template can only come out of the URLconf, which a client
cannot extend. Why slots and not every template: the URLconf has about 60 labels besides
``admin/*`` and each route costs about 240 series; the slots keep the total under the
5 000-series ceiling (``budget``, checked by ``helpdesk.checks``).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

from helpdesk.monitoring.browser.budget import OTHER
from helpdesk.monitoring.metrics.middleware import page_route

logger = logging.getLogger(__name__)

_TABLET = re.compile(r"iPad|Tablet|PlayBook|Silk|Kindle|Android(?!.*Mobile)", re.IGNORECASE)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android|BlackBerry|Opera Mini|Windows Phone", re.I)
_SLOT_KEY = "browser:route-slot:{}"
# Template → whether it holds a slot, as this process learnt it. Slots never expire, so an
# answer stays true; a cache outage is not remembered (the next batch asks again).
_slotted: dict[str, bool] = {}


@lru_cache(maxsize=1024)
def device(user_agent: str) -> str:
    """Return ``tablet``, ``mobile`` or ``desktop`` for a User-Agent header."""
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


def _has_slot(template: str) -> bool:
    """Return True when ``template`` holds one of the BROWSER_RESOLVED_ROUTES slots, taking a
    free one if there is one (``cache.add`` is atomic: two processes never share a slot)."""
    known = _slotted.get(template)
    if known is not None:
        return known
    held = False
    try:
        for slot in range(settings.BROWSER_RESOLVED_ROUTES):
            key = _SLOT_KEY.format(slot)
            if cache.add(key, template, timeout=None) or cache.get(key) == template:
                held = True
                break
    except Exception as error:  # a cache outage costs the label, never the report
        logger.warning("browser route slots unavailable: %s", type(error).__name__)
        return False
    if not held:
        logger.info("browser route %s recorded as other: the route slots are taken", template)
    _slotted[template] = held
    return held


def forget_slots() -> None:
    """Forget the slots this process knows and free them in the cache (tests, tools)."""
    _slotted.clear()
    cache.delete_many([_SLOT_KEY.format(slot) for slot in range(settings.BROWSER_RESOLVED_ROUTES)])


def route(declared: str | None, page_url: str | None) -> str:
    """Return the route label of a page (see the module docstring)."""
    allowed: frozenset[str] = settings.BROWSER_ROUTE_SET
    if declared:
        return declared if declared in allowed else OTHER
    template = page_route(page_url)
    if template is not None and (template in allowed or _has_slot(template)):
        return template
    return OTHER


def action(name: str) -> str:
    """Return the action label: ``name`` when BROWSER_ACTIONS allows it, else ``other``."""
    return name if name in settings.BROWSER_ACTION_SET else OTHER
