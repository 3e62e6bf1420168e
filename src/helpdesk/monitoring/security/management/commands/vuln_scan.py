"""``helpdesk vuln-scan [--osv PATH]... [--requirements FILE] [--npm-lock FILE]``: known
vulnerabilities in the locked dependencies (uv.lock, and the frontend's package-lock.json).
Exit 0 clean, 1 fixable vulnerability, 2 error, 3 not audited."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from helpdesk.monitoring.security import scanning

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Scan the locked dependencies (uv.lock, optionally an npm package-lock.json) with "
        "pip-audit and npm audit, or offline against OSV exports. Exit codes: 0 clean, "
        "1 vulnerability with a fix, 2 error, 3 not audited."
    )

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--osv",
            type=Path,
            action="append",
            help="OSV export: a folder or zip of JSON records (repeat for PyPI and npm).",
        )
        parser.add_argument(
            "--npm-lock", type=Path, help="Also scan this npm package-lock.json (npm audit)."
        )
        parser.add_argument("--requirements", type=Path, help="Pinned requirements file.")
        parser.add_argument("--uv", help="The uv binary (default: uv on PATH, .tools/bin/uv).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["requirements"]:
                text = options["requirements"].read_text()
            else:
                text = scanning.export_locked(options["uv"])
            pins = scanning.parse_requirements(text)
            osv = options["osv"]
            exports = [osv] if isinstance(osv, Path) else osv
            if exports:
                report = scanning.audit_with_osv(pins, exports)
            else:
                report = scanning.audit_with_pip_audit(text)
            if options.get("npm_lock"):
                npm_lock = Path(options["npm_lock"])
                if exports:
                    npm = scanning.parse_npm_lock(npm_lock)
                    npm_report = scanning.audit_with_osv(npm, exports, ecosystem="npm")
                else:
                    npm_report = scanning.audit_with_npm(npm_lock)
                report = scanning.merge(report, npm_report)
        except (scanning.ScanError, OSError) as error:
            self.stderr.write(f"vuln-scan could not run: {error}")
            raise SystemExit(scanning.EXIT_ERROR) from None
        for line in report.lines():
            self.stdout.write(line)
        code = report.exit_code
        if code:
            raise SystemExit(code)
