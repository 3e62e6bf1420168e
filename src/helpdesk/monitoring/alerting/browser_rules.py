"""The embedded evaluator's source for WebVitalsPoor, named by the alert catalogue.

``WebVitalsSource`` reads the browser histograms (``browser_web_vital_seconds`` for LCP and
INP, ``browser_web_vital_cls``) from the web workers' metrics, keeps readings over a sliding
window (15 minutes, as the Prometheus rule's ``rate(…[15m])``), and reports one instance per
metric and route: the 75th percentile of the window's measurements (all devices together), bad
over the metric's threshold once the window holds at least ``min_samples`` measurements (one
slow visit is not a poor page). Differences between readings, so a restart or an old burst
does not count.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from helpdesk.monitoring.alerting.evaluator import Observation
from helpdesk.monitoring.alerting.sources import quantile
from helpdesk.monitoring.metrics.reading import app_registry

logger = logging.getLogger(__name__)

# metric -> (histogram family, label selecting the metric or None, threshold key, unit)
_WATCHED: dict[str, tuple[str, str | None, str, str]] = {
    "LCP": ("browser_web_vital_seconds", "LCP", "lcp", "s"),
    "INP": ("browser_web_vital_seconds", "INP", "inp", "s"),
    "CLS": ("browser_web_vital_cls", None, "cls", ""),
}
# (metric, route) -> upper bound -> cumulative count, summed over devices.
Buckets = dict[tuple[str, str], dict[float, float]]


class WebVitalsSource:
    """p75 of LCP, INP and CLS per route over a sliding window (see the module docstring)."""

    def __init__(
        self,
        thresholds: Mapping[str, float],
        registry: Callable[[], Any] = app_registry,
        window_seconds: float = 900.0,
    ) -> None:
        self.thresholds = thresholds
        self.registry = registry
        self.window = window_seconds
        self._readings: deque[tuple[float, Buckets]] = deque()

    def _read(self) -> Buckets:
        wanted = {family: metric for metric, (family, _, _, _) in _WATCHED.items()}
        buckets: Buckets = {}
        for family in self.registry().collect():
            if family.name not in wanted:
                continue
            for sample in family.samples:
                if not sample.name.endswith("_bucket"):
                    continue
                metric = sample.labels.get("metric", "CLS")
                if metric not in _WATCHED:
                    continue
                per_bound = buckets.setdefault((metric, sample.labels["route"]), {})
                bound = float(sample.labels["le"])
                per_bound[bound] = per_bound.get(bound, 0.0) + sample.value
        return buckets

    def _update(self, now: float) -> None:
        reading = self._read()
        if self._readings:
            last = self._readings[-1][1]
            if any(
                max(reading.get(key, {}).values(), default=0.0) < max(old.values(), default=0.0)
                for key, old in last.items()
            ):
                self._readings.clear()  # counters went down: the web server restarted
        self._readings.append((now, reading))
        while len(self._readings) > 2 and now - self._readings[1][0] >= self.window:
            self._readings.popleft()

    def observe(self, now: float) -> list[Observation]:
        self._update(now)
        if len(self._readings) < 2:
            return []
        first, last = self._readings[0][1], self._readings[-1][1]
        observations = []
        for (metric, route), counts in sorted(last.items()):
            before = first.get((metric, route), {})
            delta = sorted(
                (bound, count - before.get(bound, 0.0)) for bound, count in counts.items()
            )
            samples = delta[-1][1] if delta else 0.0
            p75 = quantile(0.75, delta)
            if p75 is None:
                continue
            _, _, key, unit = _WATCHED[metric]
            limit = self.thresholds[key]
            observations.append(
                Observation(
                    instance=f"{metric}:{route}",
                    bad=samples >= self.thresholds["min_samples"] and p75 > limit,
                    labels={"metric": metric, "route": route},
                    annotations={
                        "description": f"p75 {metric} on {route} is {p75:.3g}{unit} over "
                        f"{samples:.0f} page views in the last {self.window / 60:.0f} minutes "
                        f"(threshold {limit:g}{unit})."
                    },
                    value=p75,
                )
            )
        return observations


def web_vitals_poor(values: Mapping[str, float]) -> WebVitalsSource:
    """WebVitalsPoor: p75 LCP, INP or CLS of a route over its threshold."""
    return WebVitalsSource(values)
