"""Sources of the embedded evaluator for security, named by the alert catalogue.

They read the stored security events and TLS results (the database), so the worker sees what
every web process saw even with the per-process cache.

- ``EventCountSource``: events of one action over 5 minutes against a catalogue threshold
  (BruteForceAttack, RequestRateSpike, ScanningDetected: the same counts as Prometheus's).
- ``BruteForceSource`` / ``RateSpikeSource``: one alert instance per client address (label
  ``client_ip``), the embedded-only signals: an address with SECURITY_LOGIN_FAILURE_LIMIT
  failed logins in the lockout window, an address over SECURITY_RATE_LIMIT_PER_MINUTE.
- ``TlsExpirySource`` / ``TlsProbeFailingSource``: one instance per probed host.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from helpdesk.monitoring.alerting.evaluator import Observation

logger = logging.getLogger(__name__)


def _since(now: float, seconds: float) -> datetime:
    return datetime.fromtimestamp(now - seconds, tz=UTC)


class BruteForceSource:
    """IPs with failed logins over the limit in the window, from the stored events (shared by
    every process, whatever the cache)."""

    def observe(self, now: float) -> list[Observation]:
        from helpdesk.monitoring.security.models import SecurityEvent

        limit = int(settings.SECURITY_LOGIN_FAILURE_LIMIT)
        window = int(settings.SECURITY_LOGIN_FAILURE_WINDOW)
        rows = (
            SecurityEvent.objects.filter(
                action="authn_login_fail",
                created_at__gte=_since(now, window),
                client_ip__isnull=False,
            )
            .values("client_ip")
            .annotate(
                attempts=Count("id"),
                accounts=Count("username_hash", distinct=True, filter=~Q(username_hash="")),
            )
            .order_by("client_ip")
        )
        return [
            Observation(
                instance=str(row["client_ip"]),
                bad=row["attempts"] >= limit,
                labels={"client_ip": str(row["client_ip"])},
                annotations={
                    "description": f"{row['attempts']} failed logins from {row['client_ip']} "
                    f"against {row['accounts']} accounts in the last {window} seconds.",
                    "attempts": str(row["attempts"]),
                    "accounts_targeted": str(row["accounts"]),
                },
                value=row["attempts"],
            )
            for row in rows
        ]


class RateSpikeSource:
    """IPs that passed the per-minute request limit in the last two minutes (stored events)."""

    def observe(self, now: float) -> list[Observation]:
        from helpdesk.monitoring.security.models import SecurityEvent

        ips = (
            SecurityEvent.objects.filter(
                action="excess_rate_limit_exceeded",
                created_at__gte=_since(now, 120),
                client_ip__isnull=False,
            )
            .values_list("client_ip", flat=True)
            .distinct()
            .order_by("client_ip")
        )
        limit = settings.SECURITY_RATE_LIMIT_PER_MINUTE
        return [
            Observation(
                instance=str(ip),
                bad=True,
                labels={"client_ip": str(ip)},
                annotations={"description": f"{ip} sent over {limit} requests in a minute."},
            )
            for ip in ips
        ]


class TlsExpirySource:
    """Hosts whose certificate expires in under ``days`` (and at least ``floor``) days."""

    def __init__(self, days: float, floor: float | None = None) -> None:
        self.days, self.floor = days, floor

    def observe(self, now: float) -> list[Observation]:
        from helpdesk.monitoring.security.models import TlsProbeResult

        observations = []
        current = timezone.now()
        for row in TlsProbeResult.objects.exclude(not_after=None).order_by("host"):
            if row.not_after is None:  # excluded above; says so to the type checker
                continue
            left = (row.not_after - current).total_seconds() / 86400
            bad = left < self.days and (self.floor is None or left >= self.floor)
            observations.append(
                Observation(
                    instance=row.host,
                    bad=bad,
                    labels={"host": row.host},
                    annotations={
                        "description": f"The certificate of {row.host} expires in {left:.1f} days."
                    },
                    value=left,
                )
            )
        return observations


class TlsProbeFailingSource:
    """Hosts whose last TLS probe failed (no handshake, no certificate)."""

    def observe(self, now: float) -> list[Observation]:
        from helpdesk.monitoring.security.models import TlsProbeResult

        return [
            Observation(
                instance=row.host,
                bad=not row.success,
                labels={"host": row.host},
                annotations={
                    "description": f"The TLS probe of {row.host} failed: "
                    f"{row.error or 'no certificate'}."
                },
            )
            for row in TlsProbeResult.objects.order_by("host")
        ]


class EventCountSource:
    """Stored security events of one action over the last ``window`` seconds, over ``limit``
    (the same count as Prometheus's ``increase(helpdesk_security_events_total[5m])``); the
    description names the busiest client addresses."""

    def __init__(self, action: str, limit: float, window: float = 300.0) -> None:
        self.action, self.limit, self.window = action, limit, window

    def observe(self, now: float) -> list[Observation]:
        from helpdesk.monitoring.security.models import SecurityEvent

        events = SecurityEvent.objects.filter(
            action=self.action, created_at__gte=_since(now, self.window)
        )
        count = events.count()
        top = (
            events.filter(client_ip__isnull=False)
            .values("client_ip")
            .annotate(n=Count("id"))
            .order_by("-n", "client_ip")[:3]
        )
        sources = ", ".join(f"{row['client_ip']} ({row['n']})" for row in top) or "unknown"
        return [
            Observation(
                instance=self.action,
                bad=count > self.limit,
                annotations={
                    "description": f"{count} {self.action} events in the last "
                    f"{self.window / 60:.0f} minutes (threshold {self.limit:g}); from {sources}."
                },
                value=count,
            )
        ]


# Factories named by the alert catalogue (helpdesk.monitoring.alerting.catalogue).


def failed_logins(values: Mapping[str, float]) -> EventCountSource:
    """BruteForceAttack (login_fail)."""
    return EventCountSource("authn_login_fail", values["failures"])


def lockouts(values: Mapping[str, float]) -> EventCountSource:
    """BruteForceAttack (lockout)."""
    return EventCountSource("authn_login_lock", values["lockouts"])


def brute_force_per_client(values: Mapping[str, float]) -> BruteForceSource:
    """BruteForceAttack (client_ip): one alert per address at the lockout limit."""
    return BruteForceSource()


def rate_limit_refusals(values: Mapping[str, float]) -> EventCountSource:
    """RequestRateSpike (rate_limit)."""
    return EventCountSource("excess_rate_limit_exceeded", values["refusals"])


def rate_spike_per_client(values: Mapping[str, float]) -> RateSpikeSource:
    """RequestRateSpike (client_ip)."""
    return RateSpikeSource()


def scanning(values: Mapping[str, float]) -> EventCountSource:
    """ScanningDetected."""
    return EventCountSource("malicious_excess_404", 0)


def tls_expiring_soon(values: Mapping[str, float]) -> TlsExpirySource:
    """TLSCertificateExpiringSoon: between the critical and the warning limit."""
    return TlsExpirySource(values["days"], floor=values["critical_days"])


def tls_expiry_critical(values: Mapping[str, float]) -> TlsExpirySource:
    """TLSCertificateExpiryCritical: under the critical limit, or expired."""
    return TlsExpirySource(values["days"])


def tls_probe_failing(values: Mapping[str, float]) -> TlsProbeFailingSource:
    """TLSProbeFailing."""
    return TlsProbeFailingSource()
