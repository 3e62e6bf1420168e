"""``helpdesk errors-project [SLUG]``: print a project's DSN (creating it if needed).

Without a slug: the platform's own project. ``--organization`` creates the project for an
organization; ``--rotate`` gives it a new key first (the old DSN stops working);
``--allow-origin`` adds a browser origin; ``--base-url`` is where clients reach the app.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from helpdesk.accounts.models import Organization
from helpdesk.monitoring.errors.models import Project
from helpdesk.monitoring.errors.server import PLATFORM_SLUG, platform_project

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Print the DSN of an error tracking project (the platform's by default)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug", nargs="?", default=PLATFORM_SLUG)
        parser.add_argument("--name", help="Name of a new project (default: the slug).")
        parser.add_argument("--organization", help="Slug of the organization of a new project.")
        parser.add_argument("--rotate", action="store_true", help="Issue a new key first.")
        parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN")
        parser.add_argument("--base-url", default=f"http://127.0.0.1:{settings.PORT}")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["slug"]
        if slug == PLATFORM_SLUG:
            project = platform_project()
        else:
            project = Project.objects.filter(slug=slug).first()
            if project is None:
                organization = None
                if options["organization"]:
                    organization = Organization.objects.filter(slug=options["organization"]).first()
                    if organization is None:
                        raise CommandError(f"no organization {options['organization']!r}")
                project = Project.objects.create(
                    slug=slug, name=options["name"] or slug, organization=organization
                )
        if options["rotate"]:
            project.rotate_key()
        for origin in options["allow_origin"]:
            if origin not in project.allowed_origins:
                project.allowed_origins = [*project.allowed_origins, origin.rstrip("/")]
                project.save(update_fields=["allowed_origins"])
        self.stdout.write(project.dsn(options["base_url"]))
