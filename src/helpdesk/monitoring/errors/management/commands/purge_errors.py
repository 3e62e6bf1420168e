"""``helpdesk purge-errors``: delete error events, counts and issues past the retention."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from helpdesk.monitoring.errors.retention import purge

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Delete error events and issues older than ERRORS_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=None, help="Override the retention.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.ERRORS_RETENTION_DAYS
        if days < 1:
            raise CommandError("retention must be at least one day")
        counts = purge(timezone.now() - timedelta(days=days))
        self.stdout.write(
            f"deleted {counts['events']} events, {counts['hours']} hourly counts and "
            f"{counts['issues']} issues older than {days} days"
        )
