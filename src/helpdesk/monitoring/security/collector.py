"""The scrape-time collector of security state kept elsewhere.

- ``helpdesk_security_lockouts{scope}``: lockouts active now, scope ``ip`` or ``account``
  (from the shared cache: per process with local memory).
- ``helpdesk_tls_certificate_expiry_seconds{host}``: seconds until the certificate's notAfter
  (negative when expired), from the worker's last TLS probe.
- ``helpdesk_tls_probe_success{host}``: 1 when the last probe completed a verified handshake.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from helpdesk.lib import outages
from helpdesk.monitoring.security.lockout import SCOPES, engine

logger = logging.getLogger(__name__)


class SecurityCollector(Collector):
    """Yield the lockout and TLS gauges (see the module docstring)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lockouts = GaugeMetricFamily(
            "helpdesk_security_lockouts", "Login lockouts active now.", labels=["scope"]
        )
        try:
            for scope in SCOPES:
                lockouts.add_metric([scope], len(engine.active_locks(scope)))
        except Exception as error:
            logger.warning("lockout gauge skipped: cache unavailable (%s)", type(error).__name__)
        else:
            yield lockouts
        try:
            yield from self._tls()
        except DatabaseError as error:
            outages.report("database", error, source="TLS metrics")

    def _tls(self) -> Iterator[GaugeMetricFamily]:
        from helpdesk.monitoring.security.models import TlsProbeResult

        rows = list(TlsProbeResult.objects.order_by("host"))
        expiry = GaugeMetricFamily(
            "helpdesk_tls_certificate_expiry_seconds",
            "Seconds until the TLS certificate's notAfter (negative when expired).",
            labels=["host"],
        )
        success = GaugeMetricFamily(
            "helpdesk_tls_probe_success",
            "1 when the last TLS probe completed a verified handshake.",
            labels=["host"],
        )
        now = timezone.now()
        for row in rows:
            if row.not_after is not None:
                expiry.add_metric([row.host], (row.not_after - now).total_seconds())
            success.add_metric([row.host], 1.0 if row.success else 0.0)
        yield expiry
        yield success
