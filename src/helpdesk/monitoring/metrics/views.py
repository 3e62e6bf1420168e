"""``/metrics``: the Prometheus endpoint, closed by default.

Access: ``Authorization: Bearer <token>`` with METRICS_TOKEN or MONITORING_API_TOKEN (what
Prometheus' ``authorization`` scrape setting sends; compared in constant time), a staff session,
or a client address inside METRICS_ALLOWED_NETWORKS (resolved by ``helpdesk.lib.client_ip``).
A missing or wrong token answers 401 with ``WWW-Authenticate``; when only networks are
configured, other addresses get 403. OpenMetrics is served when the Accept header asks for it.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from helpdesk.lib.client_ip import IPNetwork, client_ip, parse_networks
from helpdesk.monitoring.access import is_monitoring_reader
from helpdesk.monitoring.metrics.exposition import render

logger = logging.getLogger(__name__)

_OPENMETRICS = "application/openmetrics-text"


@lru_cache(maxsize=4)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return parse_networks(cidrs)


def _in_allowed_network(request: HttpRequest) -> bool:
    networks = _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in network for network in networks)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """Return the 401/403 answer for a caller that may not scrape, else None."""
    if is_monitoring_reader(request, settings.METRICS_TOKEN) or _in_allowed_network(request):
        return None
    tokens = settings.METRICS_TOKEN or settings.MONITORING_API_TOKEN
    if tokens or "HTTP_AUTHORIZATION" in request.META or not settings.METRICS_ALLOWED_NETWORKS:
        response = JsonResponse({"detail": "A valid bearer token is needed."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return JsonResponse({"detail": "Your address may not read metrics."}, status=403)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Serve the metrics (see the module docstring for who may)."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    body, content_type = render(_OPENMETRICS in request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(body, content_type=content_type)
