"""``helpdesk vuln-scan [--osv PATH] [--requirements FILE]``: known vulnerabilities in the
locked dependencies. Exit 0 clean, 1 fixable vulnerability, 2 error, 3 not audited."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from helpdesk.monitoring.security import scanning

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Scan the locked dependencies (uv.lock) with pip-audit, or offline against an OSV "
        "export. Exit codes: 0 clean, 1 vulnerability with a fix, 2 error, 3 not audited."
    )

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--osv", type=Path, help="OSV export: a folder or zip of JSON records.")
        parser.add_argument("--requirements", type=Path, help="Pinned requirements file.")
        parser.add_argument("--uv", help="The uv binary (default: uv on PATH, .tools/bin/uv).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["requirements"]:
                text = options["requirements"].read_text()
            else:
                text = scanning.export_locked(options["uv"])
            pins = scanning.parse_requirements(text)
            if options["osv"]:
                report = scanning.audit_with_osv(pins, options["osv"])
            else:
                report = scanning.audit_with_pip_audit(text)
        except (scanning.ScanError, OSError) as error:
            self.stderr.write(f"vuln-scan could not run: {error}")
            raise SystemExit(scanning.EXIT_ERROR) from None
        for line in report.lines():
            self.stdout.write(line)
        code = report.exit_code
        if code:
            raise SystemExit(code)
