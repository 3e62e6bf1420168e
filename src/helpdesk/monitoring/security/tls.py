"""TLS certificate probe: the spec's ``openssl s_client`` check, as code the worker runs.

``probe("host[:port]")`` completes a verified handshake (system trust store, or
SECURITY_TLS_CA_FILE) with SNI and hostname checking, and reads the certificate's notAfter.
When verification fails (expired, wrong host, unknown issuer) it still fetches the certificate
without verification so the expiry is known, and reports the failure. ``probe_configured()``
(the worker job) probes SECURITY_TLS_HOSTS and stores one row per host, which the scrape-time
collector turns into ``helpdesk_tls_certificate_expiry_seconds`` / ``helpdesk_tls_probe_success``.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe."""

    host: str
    success: bool
    not_after: datetime | None
    error: str = ""

    def seconds_left(self, now: datetime | None = None) -> float | None:
        """Return seconds until notAfter (negative when expired), or None when unknown."""
        if self.not_after is None:
            return None
        return (self.not_after - (now or datetime.now(tz=UTC))).total_seconds()


def parse_target(target: str) -> tuple[str, int]:
    """Split ``host[:port]`` (``[v6]:port`` too); the port defaults to 443."""
    target = target.strip()
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port = rest.lstrip(":") or "443"
    elif target.count(":") == 1:
        host, port = target.split(":")
    else:
        host, port = target, "443"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a HOST[:PORT]: {target!r}")
    return host, int(port)


def _not_after(der: bytes | None) -> datetime | None:
    if not der:
        return None
    return x509.load_der_x509_certificate(der).not_valid_after_utc


def _unverified_certificate(host: str, port: int, timeout: float) -> bytes | None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only to read the expiry of a certificate that failed
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None


def probe(target: str, timeout: float | None = None, cafile: str | None = None) -> ProbeResult:
    """Probe one ``host[:port]``; never raises for network or TLS errors."""
    host, port = parse_target(target)
    label = host if port == 443 else f"{host}:{port}"
    timeout = settings.SECURITY_TLS_TIMEOUT_SECONDS if timeout is None else timeout
    context = ssl.create_default_context(cafile=cafile or settings.SECURITY_TLS_CA_FILE or None)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        return ProbeResult(label, True, _not_after(der))
    except ssl.SSLCertVerificationError as error:
        reason = str(error.verify_message or "certificate verification failed")
        return ProbeResult(
            label, False, _not_after(_unverified_certificate(host, port, timeout)), reason
        )
    except ssl.SSLError as error:
        return ProbeResult(label, False, None, f"TLS error: {error.reason or type(error).__name__}")
    except OSError as error:
        return ProbeResult(
            label, False, None, f"connection failed: {error.strerror or type(error).__name__}"
        )


def store(result: ProbeResult) -> None:
    """Keep ``result`` as the host's latest probe."""
    from helpdesk.monitoring.security.models import TlsProbeResult

    TlsProbeResult.objects.update_or_create(
        host=result.host,
        defaults={
            "checked_at": timezone.now(),
            "success": result.success,
            "not_after": result.not_after,
            "error": result.error[:200],
        },
    )


def probe_configured() -> dict[str, object]:
    """Probe every host of SECURITY_TLS_HOSTS and store the results (the worker job)."""
    from helpdesk.monitoring.security.models import TlsProbeResult

    results = [probe(target) for target in settings.SECURITY_TLS_HOSTS]
    for result in results:
        store(result)
        if not result.success:
            logger.warning("TLS probe of %s failed: %s", result.host, result.error)
    # Hosts no longer configured stop reporting (and their alerts resolve).
    TlsProbeResult.objects.exclude(host__in=[r.host for r in results]).delete()
    return {"hosts": len(results), "failed": sum(not r.success for r in results)}
