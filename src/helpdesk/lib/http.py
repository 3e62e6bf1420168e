"""Make outgoing HTTP requests that cannot be pointed at the inside of our network.

``request()`` is the one way the product calls other servers (Slack, webhooks, Alertmanager).
It refuses private, loopback, link-local, multicast and reserved destinations unless
``OUTBOUND_ALLOW_PRIVATE_IPS`` is on. The check runs when the socket connects, on the address
the socket actually connects to (``getpeername``), so a host name that resolves to a public
address at validation time and a private one at connect time (DNS rebinding) is still refused.
Redirects are not followed: a receiver that answers 3xx gets a failed delivery, not a hop.
Errors never carry the URL (it may hold a secret token); they name the host at most.

Each request is a client span (OpenTelemetry; a no-op unless tracing is set up) named by its
method, with the host and port but never the URL. Only requests to ``trusted`` URLs (the
operator's own services: probes, Alertmanager, Prometheus) carry a ``traceparent`` header.
"""

from __future__ import annotations

import http.client
import ipaddress
import json as jsonlib
import logging
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from opentelemetry import propagate, trace

from helpdesk import __version__

logger = logging.getLogger(__name__)

USER_AGENT = f"helpdesk-platform/{__version__}"
MAX_RESPONSE_BYTES = 64 * 1024

_tracer = trace.get_tracer(__name__)


class HttpError(Exception):
    """A request could not be made or completed (refused destination, timeout, reset…)."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.refused = refused


@dataclass
class Response:
    """The status, headers and (at most MAX_RESPONSE_BYTES of the) body of an answer."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Return the body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """Return the body parsed as JSON; raises ValueError when it is not JSON."""
        return jsonlib.loads(self.body)


def _allowed(address: str, trusted: bool = False) -> bool:
    if trusted or settings.OUTBOUND_ALLOW_PRIVATE_IPS:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _connect(host: str, port: int, timeout: float, trusted: bool = False) -> socket.socket:
    """Open a TCP connection to host:port, refusing non-public peers at connect time."""
    last_error: OSError | None = None
    refused = False
    for family, socktype, proto, _name, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        if not _allowed(str(sockaddr[0]), trusted):
            refused = True
            continue
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            # The address the kernel really connected to: the one that counts.
            if not _allowed(str(sock.getpeername()[0]), trusted):
                sock.close()
                refused = True
                continue
            return sock
        except OSError as error:
            sock.close()
            last_error = error
    if refused and last_error is None:
        raise HttpError(
            f"destination {host} is a private or loopback address (OUTBOUND_ALLOW_PRIVATE_IPS "
            "is off)",
            refused=True,
        )
    raise HttpError(f"could not connect to {host}: {_reason(last_error)}")


def _reason(error: BaseException | None) -> str:
    if error is None:
        return "no address"
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return type(error).__name__


class _HTTPConnection(http.client.HTTPConnection):
    trusted = False

    def connect(self) -> None:
        self.sock = _connect(self.host, self.port, self.timeout or 10.0, self.trusted)


class _HTTPSConnection(http.client.HTTPSConnection):
    trusted = False

    def connect(self) -> None:
        sock = _connect(self.host, self.port, self.timeout or 10.0, self.trusted)
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(sock, server_hostname=self.host)


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    trusted: bool = False,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Response:
    """Send one HTTP request and return the response; raises HttpError when none arrives.

    ``json`` is serialized compactly with ``Content-Type: application/json``. Any status is a
    response (the caller decides what a 4xx/5xx means); only transport failures raise.
    ``trusted`` lifts the private-address guard for URLs only the operator sets in the
    environment (ALERTMANAGER_URL), never for URLs from the admin or the API. At most
    ``max_bytes`` of the body are read.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise HttpError("URL must be http(s)://host/…")
    all_headers = {"User-Agent": USER_AGENT}
    if json is not None:
        body = jsonlib.dumps(json, separators=(",", ":")).encode()
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    connection_class = _HTTPSConnection if parts.scheme == "https" else _HTTPConnection
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection = connection_class(parts.hostname, port, timeout=timeout)
    connection.trusted = trusted
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    attributes: dict[str, str | int] = {
        "http.request.method": method.upper(),
        "url.scheme": parts.scheme,
        "server.address": parts.hostname,
        "server.port": port,
    }
    with _tracer.start_as_current_span(
        method.upper(), kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        if trusted:
            propagate.inject(all_headers)
        try:
            connection.request(method.upper(), path, body=body, headers=all_headers)
            answer = connection.getresponse()
            data = answer.read(max_bytes)
            span.set_attribute("http.response.status_code", answer.status)
            if answer.status >= 500:
                span.set_status(trace.StatusCode.ERROR)
            return Response(answer.status, data, {k.lower(): v for k, v in answer.getheaders()})
        except HttpError:
            raise
        except (OSError, http.client.HTTPException) as error:
            raise HttpError(f"request to {parts.hostname} failed: {_reason(error)}") from None
        finally:
            connection.close()


def post(url: str, **kwargs: Any) -> Response:
    """Send a POST request (see ``request``)."""
    return request("POST", url, **kwargs)
