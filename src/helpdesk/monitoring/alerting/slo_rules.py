"""Sources of the embedded evaluator for the SLOs' burn-rate alerts (ErrorBudgetBurn).

Each source compares one SLO's error ratio over a long and a short window with its factor
times the error budget, from the SLO package's embedded counts (the same maths as the
generated Prometheus rules: ``slo.burn``). One evaluation reads each (SLO, window) once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from helpdesk.monitoring.alerting.evaluator import Observation
from helpdesk.monitoring.slo import burn
from helpdesk.monitoring.slo.embedded import Counts, EmbeddedCounts
from helpdesk.monitoring.slo.spec import SLO, slos

logger = logging.getLogger(__name__)


class _PerEvaluation:
    """Counts memoised for one evaluation time (the sources of one turn share them)."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self._at: float | None = None
        self._memo: dict[tuple[str, str], tuple[float, float]] = {}

    def get(self, slo: SLO, window: str, now: float) -> tuple[float, float]:
        if self._at != now:
            self._at, self._memo = now, {}
        key = (slo.name, window)
        if key not in self._memo:
            self._memo[key] = self.counts.counts(slo, window, now)
        return self._memo[key]


_COUNTS = _PerEvaluation(EmbeddedCounts())


class BurnRateSource:
    """One SLO burning its budget faster than ``factor`` on both windows of ``alert``."""

    def __init__(
        self, slo: SLO, alert: burn.BurnAlert, factor: float, counts: _PerEvaluation = _COUNTS
    ) -> None:
        self.slo, self.alert, self.factor, self.counts = slo, alert, factor, counts

    def observe(self, now: float) -> list[Observation]:
        rates = {
            window: burn.burn_rate(
                burn.error_ratio(*self.counts.get(self.slo, window, now)), self.slo.budget
            )
            for window in (self.alert.long, self.alert.short)
        }
        long, short = rates[self.alert.long], rates[self.alert.short]
        shown = {w: "no events" if r is None else f"{r:.2f}x" for w, r in rates.items()}
        return [
            Observation(
                instance=self.slo.name,
                bad=burn.firing(rates, replace(self.alert, factor=self.factor)),
                annotations={
                    "description": f"The {self.slo.name} SLO ({self.slo.objective:.4g} over "
                    f"{self.slo.window}) burns its error budget at {shown[self.alert.long]} over "
                    f"{self.alert.long} and {shown[self.alert.short]} over {self.alert.short} "
                    f"(threshold {self.factor:g}x)."
                },
                value=long if long is not None else short,
            )
        ]


def burn_rate(values: Mapping[str, float], slo_name: str, long: str) -> BurnRateSource:
    """ErrorBudgetBurn (one SLO, one window pair): the catalogue's factory."""
    slo = next(s for s in slos() if s.name == slo_name)
    alert = next(a for a in burn.BURN_ALERTS if a.long == long)
    return BurnRateSource(slo, alert, values[f"factor_{long}"])
