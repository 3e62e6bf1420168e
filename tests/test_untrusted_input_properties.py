"""Property tests for the parsers of untrusted input: whatever arrives, a clear answer.

Hypothesis generates the input: Alertmanager webhook bodies (valid ones with hostile values,
and arbitrary JSON), Authorization headers for the health and monitoring tokens, and
X-Forwarded-For / Forwarded chains behind trusted and untrusted peers.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from helpdesk.lib.client_ip import UNKNOWN, resolve_client_ip
from helpdesk.monitoring.access import bearer_matches, bearer_token
from helpdesk.monitoring.alerting.alertmanager import PayloadError, parse_webhook
from helpdesk.monitoring.alerting.models import Alert

HOOK = "/api/v1/monitoring/alerts/alertmanager/"
AM_TOKEN = "a" * 40
MONITORING_TOKEN = "m" * 40
# Header values reach Django decoded as latin-1 (PEP 3333): no character beyond U+00FF.
header_text = st.text(st.characters(max_codepoint=0xFF), max_size=80)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
any_json = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
times = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(
        ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", ""]
    ),
    header_text,
    json_scalars,
)
label_values = st.text(max_size=30)  # any code point: NUL, surrogates, right-to-left marks


def _alert(labels: dict[str, str], starts_at: Any, ends_at: Any, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "Fuzzed", **labels},
        "annotations": {"summary": labels.get("summary", "")},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph",
    }


def _webhook(times: st.SearchStrategy[Any], statuses: list[str]) -> st.SearchStrategy[Any]:
    alert = st.builds(
        _alert,
        st.dictionaries(st.text(min_size=1, max_size=10), label_values, max_size=3),
        times,
        times,
        st.sampled_from(statuses),
    )
    return st.builds(
        lambda alerts: {"version": "4", "status": "firing", "receiver": "x", "alerts": alerts},
        st.lists(alert, min_size=1, max_size=3),
    )


# Mostly well-formed bodies with hostile values, so most examples reach the database.
webhook_bodies = _webhook(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    | st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]),
    ["firing", "resolved"],
)
odd_webhook_bodies = _webhook(times, ["firing", "resolved", "pending", ""])


@given(any_json | odd_webhook_bodies)
def test_it_parses_a_webhook_or_names_the_problem(payload: Any) -> None:
    try:
        alerts = parse_webhook(payload)
    except PayloadError as error:
        assert str(error)
        return
    for alert in alerts:
        assert alert.status in {"firing", "resolved"}
        assert alert.labels["alertname"]
        assert alert.starts_at.utcoffset() is not None
        assert 1 <= alert.starts_at.year <= 9999


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=webhook_bodies)
def test_it_answers_the_webhook_with_200_or_400_and_serves_what_it_accepts(
    body: Any, settings: Any
) -> None:
    settings.ALERTMANAGER_WEBHOOK_TOKEN = AM_TOKEN
    settings.MONITORING_API_TOKEN = MONITORING_TOKEN
    settings.ALERTMANAGER_URL = ""
    before = Alert.objects.count()
    response = APIClient().post(
        HOOK,
        data=json.dumps(body).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {AM_TOKEN}",
    )
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["detail"]
        assert Alert.objects.count() == before
    # Whatever was stored can be read back through the alert center.
    listing = APIClient().get(
        "/api/v1/monitoring/alerts/", HTTP_AUTHORIZATION=f"Bearer {MONITORING_TOKEN}"
    )
    assert listing.status_code == 200


@given(header_text)
def test_it_reads_a_bearer_token_from_any_authorization_header(header: str) -> None:
    request = RequestFactory().get("/health/", HTTP_AUTHORIZATION=header)
    token = bearer_token(request)
    if token is not None:
        assert token == token.strip()
        assert token
        assert header.lower().startswith("bearer ")
    assert bearer_matches(request, "", "t" * 32) is (token == "t" * 32)


@given(header_text)
def test_it_matches_the_health_token_only_when_given_exactly(noise: str) -> None:
    secret = "health-token-0123456789abcdefghij"
    exact = RequestFactory().get("/health/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert bearer_matches(exact, secret)
    other = RequestFactory().get("/health/", HTTP_AUTHORIZATION=f"Bearer {secret}{noise}")
    assert bearer_matches(other, secret) is (noise.strip() == "")


# 0.0.0.0 is left out: the resolver's placeholder for "no address" (UNKNOWN).
addresses = (
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
    .map(str)
    .filter(lambda address: address != UNKNOWN)
)
proxies = st.one_of(st.ip_addresses(network="10.0.0.0/8"), st.ip_addresses(network="fd00::/8"))
PROXIES = ["10.0.0.0/8", "fd00::/8"]
# Well-formed hops: addresses with or without a port, proxies, and the "unknown" token.
hops = st.one_of(
    addresses,
    addresses.map(lambda a: f"[{a}]:443" if ":" in a else f"{a}:443"),
    proxies.map(str),
    st.just("unknown"),
)


def _request(peer: str, chain: list[str], forwarded: bool) -> Any:
    meta: dict[str, str] = {"REMOTE_ADDR": peer}
    if chain and forwarded:
        meta["HTTP_FORWARDED"] = ", ".join(f'for="{hop}"' for hop in chain)
    elif chain:
        meta["HTTP_X_FORWARDED_FOR"] = ", ".join(chain)
    return RequestFactory().get("/", **meta)


def _address(text: str) -> str:
    """The address a lone hop stands for (UNKNOWN if none), as the resolver reads a peer."""
    return resolve_client_ip(_request(text, [], False), trusted=[])


def _trusted(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(net) for net in PROXIES)


@given(
    peer=addresses | proxies.map(str) | header_text,
    chain=st.lists(hops | header_text, max_size=5),
    forwarded=st.booleans(),
    trusted=st.sampled_from([[], PROXIES]),
)
def test_it_resolves_an_address_from_any_headers(
    peer: str, chain: list[str], forwarded: bool, trusted: list[str]
) -> None:
    client = resolve_client_ip(_request(peer, chain, forwarded), trusted=trusted)
    ipaddress.ip_address(client)  # an address (or 0.0.0.0), never header text
    if not trusted or _address(peer) == UNKNOWN or not _trusted(_address(peer)):
        # Headers from a peer that is not a trusted proxy change nothing: no spoofing.
        assert client == _address(peer)


@given(
    peer=proxies.map(str),
    chain=st.lists(hops, min_size=1, max_size=6),
    forwarded=st.booleans(),
)
def test_it_takes_the_first_untrusted_hop_from_the_right(
    peer: str, chain: list[str], forwarded: bool
) -> None:
    client = resolve_client_ip(_request(peer, chain, forwarded), trusted=PROXIES)
    walked = []
    for hop in reversed([_address(hop) for hop in chain]):
        if hop == UNKNOWN:
            break  # a garbled hop ends the walk: nothing left of it is believed
        walked.append(hop)
        if not _trusted(hop):
            break
    assert client == (walked[-1] if walked else str(ipaddress.ip_address(peer)))
