"""Per-client-IP budgets of endpoints that take anonymous traffic (browser beacons, error
envelopes), on top of the site-wide limit of the security middleware.

``over_limit(request, scope, per_minute)`` counts the request in the middleware's minute buckets
(``RateCounter``) under the endpoint's own scope, so a busy page's beacons do not spend the
site-wide budget of its visitors' address and the other way round. The client IP is the one
resolver's (``helpdesk.lib.client_ip``). The first request over the budget in a minute
publishes ``excess_rate_limit_exceeded`` with the scope, like the middleware does.
"""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest

from helpdesk.lib.client_ip import client_ip
from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.middleware import RateCounter

logger = logging.getLogger(__name__)

_BUCKET = 60
_counter: RateCounter | None = None


def over_limit(
    request: HttpRequest, scope: str, per_minute: int, now: float | None = None
) -> int | None:
    """Count this request against its client IP's budget in ``scope``.

    Returns the seconds until the next minute (for Retry-After) when the IP is over
    ``per_minute`` requests in the current minute, else None. A cache outage lets the request
    through (the readiness checks report the outage).
    """
    global _counter  # noqa: PLW0603 - created on first use, after the cache is configured
    if _counter is None:
        _counter = RateCounter()
    now = time.time() if now is None else now
    bucket = int(now // _BUCKET)
    try:
        count = _counter.hit(client_ip(request), bucket, scope=scope)
    except Exception as error:
        logger.debug("rate counter unavailable: %s", type(error).__name__)
        return None
    if count <= per_minute:
        return None
    if count == per_minute + 1:
        events.publish_for(
            request,
            "excess_rate_limit_exceeded",
            reason=f"over {per_minute} requests per minute",
            group=scope,
        )
    return max(1, int((bucket + 1) * _BUCKET - now + 0.999))
