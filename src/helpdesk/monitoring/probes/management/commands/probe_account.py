"""``helpdesk probe-account``: create (or refresh) the synthetic probe's low-privilege account.

The account is a customer of its own organization ``synthetic-probes`` with one ticket, so the
journey probe can list and open a ticket and can see nothing else. Without PROBE_PASSWORD a
random password is written to ``$HELPDESK_DATA_DIR/probe-password`` (mode 0600), which the
worker reads.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from helpdesk.accounts.models import Membership, Organization, Role
from helpdesk.monitoring.probes.runner import probe_password
from helpdesk.tickets.models import Ticket

logger = logging.getLogger(__name__)

ORGANIZATION = "synthetic-probes"


class Command(BaseCommand):
    help = "Create the synthetic probe's account (a customer of its own organization)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        password = probe_password()
        if not password:
            password = secrets.token_urlsafe(24)
            path = Path(settings.DATA_DIR) / "probe-password"
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(password)
        organization, _ = Organization.objects.get_or_create(
            slug=ORGANIZATION, defaults={"name": "Synthetic probes"}
        )
        user, _ = get_user_model().objects.get_or_create(username=settings.PROBE_USERNAME)
        user.set_password(password)
        user.is_staff = user.is_superuser = False
        user.save()
        Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": Role.CUSTOMER}
        )
        if not Ticket.objects.filter(requester=user).exists():
            Ticket.objects.create(
                organization=organization,
                requester=user,
                subject="Synthetic probe ticket",
                description="Opened by the journey probe: token, ticket list, ticket detail.",
            )
        self.stdout.write(f"probe account {settings.PROBE_USERNAME} ready")
