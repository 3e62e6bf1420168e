"""``helpdesk tls-check HOST[:PORT]…``: days left on each TLS certificate (exit 1 on trouble).

The limits are the TLS alerts' thresholds from the alert catalogue
(``TLSCertificateExpiringSoon.days``, ``TLSCertificateExpiryCritical.days``, overridden by
``ALERT_THRESHOLDS`` as for the alerts), so the command and the alerts agree on "expiring".
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from helpdesk.monitoring.alerting import catalogue
from helpdesk.monitoring.security import tls

logger = logging.getLogger(__name__)


def expiry_limits() -> tuple[float, float]:
    """Return the (warning, critical) days of the TLS alerts, overrides applied."""
    alerts = {alert.name: alert for alert in catalogue.all_alerts()}
    warning = catalogue.thresholds(alerts["TLSCertificateExpiringSoon"])["days"]
    critical = catalogue.thresholds(alerts["TLSCertificateExpiryCritical"])["days"]
    return warning, critical


def _expiry(left: float | None, warning: float, critical: float) -> str:
    """Return what the report says about ``left`` seconds of validity ("" when fine)."""
    if left is None:
        return ""
    if left < 0:
        return " EXPIRED (critical)"
    if left < critical * 86400:
        return f" EXPIRES within {critical:g} days (critical)"
    if left < warning * 86400:
        return f" EXPIRES within {warning:g} days (warning)"
    return ""


class Command(BaseCommand):
    help = (
        "Probe TLS certificates (default: SECURITY_TLS_HOSTS). Exit 1 when a probe fails or a "
        "certificate expires within TLSCertificateExpiringSoon's days (ALERT_THRESHOLDS)."
    )

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("targets", nargs="*", metavar="HOST[:PORT]")
        parser.add_argument("--cafile", help="Trust these CA certificates instead of the system's.")
        parser.add_argument("--timeout", type=float, default=None)
        parser.add_argument(
            "--store", action="store_true", help="Keep the results for /metrics and alerts."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        targets = options["targets"] or settings.SECURITY_TLS_HOSTS
        if not targets:
            raise CommandError("give HOST[:PORT] arguments or set SECURITY_TLS_HOSTS")
        warning, critical = expiry_limits()
        trouble = False
        for target in targets:
            try:
                result = tls.probe(target, options["timeout"], options["cafile"])
            except ValueError as error:
                raise CommandError(str(error)) from None
            if options["store"]:
                tls.store(result)
            left = result.seconds_left()
            days = "unknown" if left is None else f"{left / 86400:.1f} days"
            status = "ok" if result.success else f"FAILED ({result.error})"
            expiry = _expiry(left, warning, critical)
            trouble = trouble or not result.success or bool(expiry)
            self.stdout.write(f"{result.host}: {status}{expiry}; notAfter in {days}")
        if trouble:
            raise SystemExit(1)
