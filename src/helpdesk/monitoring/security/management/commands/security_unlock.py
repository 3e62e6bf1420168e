"""``helpdesk security-unlock --ip ADDR | --user NAME``: lift a brute-force lockout."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from helpdesk.monitoring.security.lockout import account_key, engine, lift

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Lift the login lockout of a client IP or an account; --list shows active ones."

    def add_arguments(self, parser: Any) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--ip", help="Client IP address to unlock.")
        group.add_argument("--user", help="Username whose account to unlock.")
        group.add_argument("--list", action="store_true", help="List active lockouts.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            for scope, locks in engine.describe().items():
                for lock in locks:
                    self.stdout.write(f"{scope} {lock['key']} {lock['retry_after']}s left")
            return
        if options["ip"]:
            try:
                ip = str(ipaddress.ip_address(options["ip"]))
            except ValueError:
                raise CommandError(f"not an IP address: {options['ip']!r}") from None
            unlocked = lift("ip", ip, reason="unlocked by command")
            what = f"IP {ip}"
        else:
            username = options["user"]
            unlocked = lift(
                "account", account_key(username), reason="unlocked by command", username=username
            )
            what = f"account {username}"
        self.stdout.write(
            f"{what}: {'unlocked' if unlocked else 'was not locked (counters reset)'}"
        )
