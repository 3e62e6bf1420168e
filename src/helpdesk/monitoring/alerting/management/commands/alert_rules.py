"""``helpdesk alert-rules``: write (or check) the Prometheus rule files from the catalogue.

With the default output (the repository's deploy/prometheus/rules) it also updates the
generated parts of docs/alerting.md and the runbooks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from helpdesk.monitoring.alerting import rulefiles

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[6]
DEFAULT_OUTPUT = ROOT / "deploy" / "prometheus" / "rules"


class Command(BaseCommand):
    help = (
        "Render deploy/prometheus/rules/*.yml from the alert catalogue, with the "
        "ALERT_THRESHOLDS overrides of this environment."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--output", type=Path, default=DEFAULT_OUTPUT, help="Folder to write the files to."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit 1 when a file differs from what would be written.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"]
        files = {output / name: text for name, text in rulefiles.render().items()}
        if output.resolve() == DEFAULT_OUTPUT and (ROOT / "docs").is_dir():
            tests = output.parent / "tests"
            files.update({tests / name: text for name, text in rulefiles.render_tests().items()})
            files.update(rulefiles.render_docs(ROOT))
        stale = []
        for path, text in files.items():
            name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
            current = path.read_text() if path.is_file() else None
            if current == text:
                continue
            stale.append(name)
            if not options["check"]:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        if options["check"] and stale:
            raise CommandError(f"out of date (run `helpdesk alert-rules`): {', '.join(stale)}")
        verb = "would change" if options["check"] else "wrote"
        self.stdout.write(f"{verb} {len(stale)} file(s) in {output}")
