"""Rules of the embedded evaluator for security: one alert instance per attacker or host.

- ``BruteForceAttack`` (critical): an IP with at least SECURITY_LOGIN_FAILURE_LIMIT failed
  logins in the window; labels ``client_ip``, annotations attempts and accounts targeted.
  One alert per IP however many attempts it makes (the evaluator keys instances by label).
- ``RequestRateSpike`` (warning): an IP over SECURITY_RATE_LIMIT_PER_MINUTE.
- ``TLSCertificateExpiring``: warning under SECURITY_TLS_WARNING_DAYS (21) days, critical
  under SECURITY_TLS_CRITICAL_DAYS (7) or when the probe fails; one instance per host.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from helpdesk.monitoring.alerting.evaluator import Observation, Rule
from helpdesk.monitoring.security.lockout import LockoutEngine, engine
from helpdesk.monitoring.security.middleware import rate_offenders

logger = logging.getLogger(__name__)


class BruteForceSource:
    """IPs failing logins over the limit in the window (shared cache counters)."""

    def __init__(self, lockouts: LockoutEngine = engine) -> None:
        self.lockouts = lockouts

    def observe(self, now: float) -> list[Observation]:
        limit = int(settings.SECURITY_LOGIN_FAILURE_LIMIT)
        observations = []
        for ip, stats in sorted(self.lockouts.attackers().items()):
            attempts, accounts = stats["attempts"], stats["accounts"]
            observations.append(
                Observation(
                    instance=ip,
                    bad=attempts >= limit,
                    labels={"client_ip": ip},
                    annotations={
                        "description": f"{attempts} failed logins from {ip} against "
                        f"{accounts} accounts in the last "
                        f"{settings.SECURITY_LOGIN_FAILURE_WINDOW} seconds.",
                        "attempts": str(attempts),
                        "accounts_targeted": str(accounts),
                    },
                    value=attempts,
                )
            )
        return observations


class RateSpikeSource:
    """IPs over the per-minute request limit."""

    def observe(self, now: float) -> list[Observation]:
        return [
            Observation(
                instance=ip,
                bad=True,
                labels={"client_ip": ip},
                annotations={
                    "description": f"{stats['requests_per_minute']} requests in a minute from "
                    f"{ip} (limit {settings.SECURITY_RATE_LIMIT_PER_MINUTE}).",
                },
                value=stats["requests_per_minute"],
            )
            for ip, stats in sorted(rate_offenders(now).items())
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
