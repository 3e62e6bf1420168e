"""One client-IP resolver: REMOTE_ADDR unless the peer is a trusted proxy."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from helpdesk.lib.client_ip import client_ip, parse_networks, resolve_client_ip

TRUSTED = ["10.0.0.0/8", "fd00::/8"]


def req(remote: str, xff: str | None = None, forwarded: str | None = None) -> object:
    meta = {"REMOTE_ADDR": remote}
    if xff is not None:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    if forwarded is not None:
        meta["HTTP_FORWARDED"] = forwarded
    return RequestFactory().get("/", **meta)


def test_it_uses_remote_addr_without_trusted_proxies() -> None:
    assert resolve_client_ip(req("203.0.113.9", xff="1.2.3.4"), []) == "203.0.113.9"


def test_it_ignores_a_spoofed_header_from_an_untrusted_peer() -> None:
    request = req("203.0.113.9", xff="1.2.3.4, 10.0.0.1")
    assert resolve_client_ip(request, TRUSTED) == "203.0.113.9"


def test_it_walks_a_trusted_chain_from_the_right() -> None:
    # The client forged "6.6.6.6"; the first proxy appended the real peer 198.51.100.7.
    request = req("10.0.0.2", xff="6.6.6.6, 198.51.100.7, 10.0.0.1")
    assert resolve_client_ip(request, TRUSTED) == "198.51.100.7"


def test_it_reads_the_standard_forwarded_header() -> None:
    request = req("10.0.0.2", forwarded='for="[2001:db8::1]:443";proto=https, for=10.0.0.1')
    assert resolve_client_ip(request, TRUSTED) == "2001:db8::1"


def test_it_stops_at_a_garbled_hop() -> None:
    request = req("10.0.0.2", xff="1.2.3.4, not-an-ip, 10.0.0.1")
    assert resolve_client_ip(request, TRUSTED) == "10.0.0.1"


def test_it_stops_at_a_hop_naming_no_host() -> None:
    """0.0.0.0, :: and ::ffff:0.0.0.0 are no client: they end the walk like a garbled hop."""
    for hop in ("0.0.0.0", "::", "::ffff:0:0"):  # noqa: S104 - header values, not binds
        request = req("10.0.0.2", xff=f"1.2.3.4, {hop}, 10.0.0.1")
        assert resolve_client_ip(request, TRUSTED) == "10.0.0.1", hop
    assert resolve_client_ip(req("::"), []) == "0.0.0.0"  # noqa: S104 - the placeholder


def test_it_returns_the_proxy_when_the_chain_is_all_trusted_or_empty() -> None:
    assert resolve_client_ip(req("10.0.0.2", xff=""), TRUSTED) == "10.0.0.2"
    assert resolve_client_ip(req("10.0.0.2", xff="10.1.1.1"), TRUSTED) == "10.1.1.1"


def test_it_normalises_ports_and_mapped_addresses() -> None:
    assert resolve_client_ip(req("10.0.0.2", xff="198.51.100.7:5555"), TRUSTED) == "198.51.100.7"
    assert resolve_client_ip(req("::ffff:192.0.2.1"), []) == "192.0.2.1"


def test_it_caches_the_answer_on_the_request(settings: object) -> None:
    request = req("192.0.2.5")
    assert client_ip(request) == "192.0.2.5"  # type: ignore[arg-type]
    request.META["REMOTE_ADDR"] = "192.0.2.6"  # type: ignore[attr-defined]
    assert client_ip(request) == "192.0.2.5"  # type: ignore[arg-type]


def test_it_refuses_a_bad_network() -> None:
    with pytest.raises(ValueError, match="nope"):
        parse_networks(["10.0.0.0/8", "nope"])
