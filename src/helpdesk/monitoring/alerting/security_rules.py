"""The security rules of the embedded evaluator: one alert instance per attacker or host.

The sources read the stored security events and TLS results (the database), so the worker
sees what every web process saw even with the per-process cache.

- ``BruteForceAttack`` (critical): an IP with at least SECURITY_LOGIN_FAILURE_LIMIT failed
  logins in the window; labels ``client_ip``, annotations attempts and accounts targeted.
  One alert per IP however many attempts it makes (the evaluator keys instances by label).
- ``RequestRateSpike`` (warning): an IP over SECURITY_RATE_LIMIT_PER_MINUTE.
- ``TLSCertificateExpiring``: warning under SECURITY_TLS_WARNING_DAYS (21) days, critical
  under SECURITY_TLS_CRITICAL_DAYS (7) or when the probe fails; one instance per host.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from helpdesk.monitoring.alerting.evaluator import Observation, Rule

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
    """Hosts whose certificate expires within ``days`` (or whose probe fails, if ``failing``)."""

    def __init__(self, days: float, failing: bool) -> None:
        self.days, self.failing = days, failing

    def observe(self, now: float) -> list[Observation]:
        from helpdesk.monitoring.security.models import TlsProbeResult

        observations = []
        current = timezone.now()
        for row in TlsProbeResult.objects.order_by("host"):
            if row.not_after is None:
                left = None
                bad = self.failing
                text = f"TLS probe of {row.host} failed: {row.error or 'no certificate'}."
            else:
                left = (row.not_after - current).total_seconds() / 86400
                bad = left < self.days or (self.failing and not row.success)
                text = f"The certificate of {row.host} expires in {left:.1f} days"
                text += "." if row.success else f"; the probe failed: {row.error}."
            observations.append(
                Observation(
                    instance=row.host,
                    bad=bad,
                    labels={"host": row.host},
                    annotations={"description": text},
                    value=left,
                )
            )
        return observations


def rules() -> list[Rule]:
    """Return the security rules for the embedded evaluator."""
    return [
        Rule(
            name="BruteForceAttack",
            severity="critical",
            source=BruteForceSource(),
            summary="Repeated failed logins from one client",
        ),
        Rule(
            name="RequestRateSpike",
            severity="warning",
            source=RateSpikeSource(),
            summary="A client exceeds the request rate limit",
        ),
        Rule(
            name="TLSCertificateExpiring",
            severity="warning",
            source=TlsExpirySource(settings.SECURITY_TLS_WARNING_DAYS, failing=False),
            summary="A TLS certificate expires soon",
        ),
        Rule(
            name="TLSCertificateExpiring",
            severity="critical",
            source=TlsExpirySource(settings.SECURITY_TLS_CRITICAL_DAYS, failing=True),
            summary="A TLS certificate expires within days or cannot be verified",
        ),
    ]
