"""``helpdesk tls-check HOST[:PORT]…``: days left on each TLS certificate (exit 1 on trouble)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from helpdesk.monitoring.security import tls

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Probe TLS certificates (default: SECURITY_TLS_HOSTS). Exit 1 when a probe fails or a "
        "certificate expires within SECURITY_TLS_WARNING_DAYS."
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
        warning = settings.SECURITY_TLS_WARNING_DAYS
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
            if left is not None and left < warning * 86400:
                status += f" EXPIRES within {warning:g} days" if left >= 0 else " EXPIRED"
                trouble = True
            trouble = trouble or not result.success
            self.stdout.write(f"{result.host}: {status}; notAfter in {days}")
        if trouble:
            raise SystemExit(1)
