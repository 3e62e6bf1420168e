"""Resolve the client IP of a request: the one resolver the whole product uses.

REMOTE_ADDR is the client unless the immediate peer is a trusted proxy (TRUSTED_PROXIES, a list
of CIDRs). Then X-Forwarded-For (or the standard Forwarded header) is walked from the right,
skipping hops that are themselves trusted proxies; the first untrusted address is the client.
A header sent by an untrusted peer is ignored, so it cannot be spoofed to move rate limits or
lockouts. The left-most entry is never trusted blindly: anyone can write it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_FOR = re.compile(r'for=(?:"?\[?)([^\]";,]+)', re.IGNORECASE)
UNKNOWN = "0.0.0.0"  # noqa: S104 - a placeholder value, not a bind address


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDRs (or bare addresses); raises ValueError naming the bad entry."""
    out = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP network: {cidr!r}") from None
    return tuple(out)


@lru_cache(maxsize=4096)
def _clean(value: str) -> str | None:
    """Return a normalised IP address, or None; strips ports and IPv6 brackets.

    Cached: the same proxies and clients come back on every request, and parsing an address
    is most of the resolver's cost.
    """
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    # 0.0.0.0, :: and ::ffff:0.0.0.0 name no host: no better than a garbled hop.
    return None if address.is_unspecified else str(address)


@lru_cache(maxsize=4096)
def _trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in networks)


def _forwarded_chain(request: HttpRequest) -> list[str]:
    forwarded = request.META.get("HTTP_FORWARDED", "")
    if forwarded:
        return _FORWARDED_FOR.findall(forwarded)
    return request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")


def resolve_client_ip(request: HttpRequest, trusted: Sequence[str] | None = None) -> str:
    """Return the client IP for ``request`` (see the module docstring for the rules)."""
    networks = _networks(tuple(settings.TRUSTED_PROXIES if trusted is None else trusted))
    peer = _clean(request.META.get("REMOTE_ADDR", "")) or UNKNOWN
    if not networks or peer == UNKNOWN or not _trusted(peer, networks):
        return peer
    client = peer
    for hop in reversed(_forwarded_chain(request)):
        address = _clean(hop)
        if address is None:
            # A garbled hop ends the walk: trust nothing left of it.
            break
        client = address
        if not _trusted(address, networks):
            break
    return client


def client_ip(request: HttpRequest) -> str:
    """Return the request's client IP, computed once and cached on the request."""
    cached: str | None = getattr(request, "_helpdesk_client_ip", None)
    if cached is None:
        cached = resolve_client_ip(request)
        request._helpdesk_client_ip = cached  # type: ignore[attr-defined]
    return cached
