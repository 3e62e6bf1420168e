"""Good and total event rates of the SLIs from Prometheus's HTTP API (PROMETHEUS_URL).

``PrometheusCounts.counts`` runs the SLO file's good and total queries over the window as
instant queries; the rates' ratio is the SLI. A failed query raises ``PrometheusError`` with
a generic message (the URL may carry credentials).
"""

from __future__ import annotations

import logging
import math
from urllib.parse import urlencode

from helpdesk.lib import http
from helpdesk.monitoring.slo.spec import SLO

logger = logging.getLogger(__name__)


class PrometheusError(Exception):
    """Prometheus could not answer a query."""


class PrometheusCounts:
    """Counts from a Prometheus server's instant queries."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, promql: str, at: float) -> float:
        """Return the sum of an instant query's values (0 with no series, NaN counts as 0)."""
        params = urlencode({"query": promql, "time": f"{at:.3f}"})
        try:
            # trusted: an operator-set URL, typically on the internal network.
            answer = http.request(
                "GET", f"{self.url}/api/v1/query?{params}", timeout=self.timeout, trusted=True
            )
            data = answer.json()
        except (http.HttpError, ValueError):
            raise PrometheusError("Prometheus did not answer") from None
        if answer.status != 200 or data.get("status") != "success":
            raise PrometheusError(f"Prometheus refused the query (status {answer.status})")
        total = 0.0
        for series in data["data"]["result"]:
            value = float(series["value"][1])
            total += value if math.isfinite(value) else 0.0
        return total

    def counts(self, slo: SLO, window: str, now: float) -> tuple[float, float]:
        good = self.query(slo.query("good", window), now)
        return good, self.query(slo.query("total", window), now)
