"""``helpdesk purge-security-events``: delete events older than the retention window."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from helpdesk.monitoring.security.models import SecurityEvent

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Delete security events older than SECURITY_EVENT_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=None, help="Override the retention.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = (
            options["days"]
            if options["days"] is not None
            else settings.SECURITY_EVENT_RETENTION_DAYS
        )
        if days < 1:
            self.stderr.write("retention must be at least one day")
            raise SystemExit(2)
        deleted = SecurityEvent.purge(timezone.now() - timedelta(days=days))
        self.stdout.write(f"deleted {deleted} security events older than {days} days")
