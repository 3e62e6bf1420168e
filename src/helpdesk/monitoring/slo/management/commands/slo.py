"""``helpdesk slo report`` (the SLO status, as a table or JSON) and ``helpdesk slo check``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from helpdesk.monitoring.slo.prometheus import PrometheusError
from helpdesk.monitoring.slo.report import report
from helpdesk.monitoring.slo.spec import SHIPPED, SpecError, load, slos

logger = logging.getLogger(__name__)


def _pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not burning"
    if seconds <= 0:
        return "spent"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class Command(BaseCommand):
    help = "SLOs: `report` shows each SLO's status, `check [FILE]` validates an SLO file."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["report", "check"])
        parser.add_argument("file", nargs="?", type=Path, help="SLO file to check.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "check":
            path = options["file"]
            try:
                found = load(path) if path else slos()
            except SpecError as error:
                raise CommandError("\n" + "\n".join(error.errors)) from None
            self.stdout.write(f"{path or SHIPPED}: {len(found)} SLOs, valid")
            return
        try:
            data = report()
        except PrometheusError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(f"SLOs (source: {data['source']})\n")
        header = (
            f"{'SLO':<20} {'objective':>10} {'window':>6} {'SLI':>10} {'events':>9} "
            f"{'budget left':>12} {'burn 1h':>8} {'burn 6h':>8} {'burn 1d':>8} {'burn 3d':>8}  "
            "exhausted in"
        )
        self.stdout.write(header)
        for slo in data["slos"]:
            rates = slo["burn_rates"]
            firing = [a["windows"] for a in slo["alerts"] if a["firing"]]
            self.stdout.write(
                f"{slo['name']:<20} {_pct(slo['objective'], 1):>10} {slo['window']:>6} "
                f"{_pct(slo['sli']):>10} {slo['total']:>9.0f} "
                f"{_pct(slo['budget_remaining'], 1):>12} {_burn(rates['1h']):>8} "
                f"{_burn(rates['6h']):>8} {_burn(rates['1d']):>8} {_burn(rates['3d']):>8}  "
                f"{_duration(slo['seconds_to_exhaustion'])}"
                + (f"  FIRING {', '.join(firing)}" if firing else "")
            )
