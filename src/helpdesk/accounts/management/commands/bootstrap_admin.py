"""Create the first administrator once, printing its password a single time."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Create the superuser HELPDESK_ADMIN_USERNAME (default admin) if no superuser exists; "
        "its password is HELPDESK_ADMIN_PASSWORD or a generated one printed once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write("An administrator exists already (password not shown again).")
            return
        username = os.environ.get("HELPDESK_ADMIN_USERNAME") or "admin"
        given = os.environ.get("HELPDESK_ADMIN_PASSWORD")
        password = given or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        if given:
            self.stdout.write(f"Created administrator {username!r} with HELPDESK_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                f"Created administrator {username!r} with password {password}\n"
                "  (shown once: keep it, or set HELPDESK_ADMIN_PASSWORD before the first run)"
            )
