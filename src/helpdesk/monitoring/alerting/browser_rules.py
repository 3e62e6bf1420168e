"""The embedded evaluator's source for WebVitalsPoor, named by the alert catalogue.

``WebVitalsSource`` asks the query layer for the browser histograms
(``browser_web_vital_seconds`` for LCP and INP, ``browser_web_vital_cls``) over the last 15
minutes, as the Prometheus rule's ``rate(…[15m])``, and reports one instance per metric and
route: the 75th percentile of the window's measurements (all devices together), bad over the
metric's threshold once the window holds at least ``min_samples`` measurements (one slow visit
is not a poor page).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from helpdesk.monitoring.alerting.evaluator import Observation
from helpdesk.monitoring.history import query

logger = logging.getLogger(__name__)

# metric -> (histogram family, label matchers selecting the metric, threshold key, unit)
_WATCHED: dict[str, tuple[str, str, str, str]] = {
    "LCP": ("browser_web_vital_seconds", 'metric="LCP"', "lcp", "s"),
    "INP": ("browser_web_vital_seconds", 'metric="INP"', "inp", "s"),
    "CLS": ("browser_web_vital_cls", "", "cls", ""),
}


class WebVitalsSource:
    """p75 of LCP, INP and CLS per route over a sliding window (see the module docstring),
    asked of the query layer (the embedded history, or Prometheus with PROMETHEUS_URL)."""

    def __init__(
        self,
        thresholds: Mapping[str, float],
        backend: Callable[[], query.Backend] = query.backend,
        window_seconds: int = 900,
    ) -> None:
        self.thresholds = thresholds
        self.backend = backend
        self.window = int(window_seconds)

    def observe(self, now: float) -> list[Observation]:
        answer = self.backend()
        observations = []
        for metric, (family, where, key, unit) in _WATCHED.items():
            selector = f"{family}_count{{{where}}}" if where else f"{family}_count"
            counts = answer.instant(query.increase(selector, self.window, by=["route"]), now)
            samples = {v.labels.get("route", ""): v.value for v in counts}
            p75s = answer.instant(
                query.quantile(0.75, family, self.window, by=["route"], where=where), now
            )
            limit = self.thresholds[key]
            for value in sorted(p75s, key=lambda v: v.labels.get("route", "")):
                route, p75 = value.labels.get("route", ""), value.value
                seen = samples.get(route, 0.0)
                observations.append(
                    Observation(
                        instance=f"{metric}:{route}",
                        bad=seen >= self.thresholds["min_samples"] and p75 > limit,
                        labels={"metric": metric, "route": route},
                        annotations={
                            "description": f"p75 {metric} on {route} is {p75:.3g}{unit} over "
                            f"{seen:.0f} page views in the last {self.window / 60:.0f} "
                            f"minutes (threshold {limit:g}{unit})."
                        },
                        value=p75,
                    )
                )
        return sorted(observations, key=lambda o: o.instance)


def web_vitals_poor(values: Mapping[str, float]) -> WebVitalsSource:
    """WebVitalsPoor: p75 LCP, INP or CLS of a route over its threshold."""
    return WebVitalsSource(values)
