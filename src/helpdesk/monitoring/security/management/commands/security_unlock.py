"""``helpdesk security-unlock --ip ADDR | --user NAME``: lift a brute-force lockout."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.lockout import engine

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
            unlocked = engine.unlock("ip", ip)
            fields: dict[str, Any] = {"target_ip": ip}
            what = f"IP {ip}"
        else:
            unlocked = engine.unlock_user(options["user"])
            fields = {"username": options["user"]}
            what = f"account {options['user']}"
        events.publish("authn_login_unlock", reason="unlocked by command", **fields)
        self.stdout.write(
            f"{what}: {'unlocked' if unlocked else 'was not locked (counters reset)'}"
        )
