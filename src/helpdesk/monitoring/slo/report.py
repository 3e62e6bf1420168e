"""The SLO report: per SLO the objective, the SLI over its window, the budget left, the burn
rates and the time to exhaustion; from Prometheus when PROMETHEUS_URL is set, else embedded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from helpdesk.monitoring.slo import burn
from helpdesk.monitoring.slo.embedded import Counts, EmbeddedCounts
from helpdesk.monitoring.slo.prometheus import PrometheusCounts
from helpdesk.monitoring.slo.spec import SLO, slos

logger = logging.getLogger(__name__)


@dataclass
class SloStatus:
    """One SLO's figures at one moment."""

    name: str
    description: str
    objective: float
    window: str
    good: float
    total: float
    sli: float | None
    error_budget: float
    budget_remaining: float
    burn_rates: dict[str, float | None] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    seconds_to_exhaustion: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_counts() -> Counts:
    """Return Prometheus's counts when PROMETHEUS_URL is set, else the embedded ones."""
    if settings.PROMETHEUS_URL:
        return PrometheusCounts(settings.PROMETHEUS_URL)
    return EmbeddedCounts()


def source_name(counts: Counts) -> str:
    return "prometheus" if isinstance(counts, PrometheusCounts) else "embedded"


def burn_rates(slo: SLO, counts: Counts, now: float) -> dict[str, float | None]:
    """Return the burn rate over each of ``burn.WINDOWS`` (None without events)."""
    rates = {}
    for window in burn.WINDOWS:
        good, total = counts.counts(slo, window, now)
        rates[window] = burn.burn_rate(burn.error_ratio(good, total), slo.budget)
    return rates


def status(slo: SLO, counts: Counts, now: float) -> SloStatus:
    """Return one SLO's status."""
    good, total = counts.counts(slo, slo.window, now)
    ratio = burn.error_ratio(good, total)
    remaining = burn.budget_remaining(ratio, slo.budget)
    rates = burn_rates(slo, counts, now)
    # The current rate: the shortest window that has events.
    current = next((rates[w] for w in burn.WINDOWS[2:] if rates[w] is not None), None)
    return SloStatus(
        name=slo.name,
        description=slo.description,
        objective=slo.objective,
        window=slo.window,
        good=good,
        total=total,
        sli=None if ratio is None else 1.0 - ratio,
        error_budget=slo.budget,
        budget_remaining=remaining,
        burn_rates=rates,
        alerts=[
            {
                "windows": f"{alert.long}/{alert.short}",
                "factor": alert.factor,
                "severity": alert.severity,
                "firing": burn.firing(rates, alert),
            }
            for alert in burn.BURN_ALERTS
        ],
        seconds_to_exhaustion=burn.seconds_to_exhaustion(remaining, current, slo.window_seconds),
    )


def report(counts: Counts | None = None, now: float | None = None) -> dict[str, Any]:
    """Return every SLO's status and where the figures come from."""
    counts = counts or default_counts()
    now = time.time() if now is None else now
    return {
        "source": source_name(counts),
        "generated_at": now,
        "slos": [status(slo, counts, now).as_dict() for slo in slos()],
    }
