"""Good and total events of the SLIs from the app's own data, without Prometheus.

- ``http_not_5xx``, ``http_not_500``, ``http_under_500ms``: the HTTP duration histogram of the
  web processes, sampled by the worker (``Sampler``, every SLO_SAMPLE_SECONDS) into
  ``SliSample`` increments; a window sums its rows. The probes' requests are not in the
  histogram (``helpdesk.lib.synthetic``).
- ``first_response``: tickets whose first-response outcome became known in the window.
- ``probes``: probe runs in the window, the good ones successful.

``Counts`` is the interface both this module and ``prometheus.PrometheusCounts`` implement;
the embedded metrics history can replace the sampled rows behind it later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Count, Q, Sum

from helpdesk.monitoring.metrics.reading import app_registry
from helpdesk.monitoring.probes.models import ProbeRun
from helpdesk.monitoring.slo.models import SliSample
from helpdesk.monitoring.slo.spec import SLO, slos, window_seconds
from helpdesk.tickets.services import first_response_outcomes

logger = logging.getLogger(__name__)

HTTP_KINDS = ("http_not_5xx", "http_not_500", "http_under_500ms")
_HISTOGRAM = "http_server_request_duration_seconds"


class Counts(Protocol):
    """Where an SLO report reads its events."""

    def counts(self, slo: SLO, window: str, now: float) -> tuple[float, float]:
        """Return (good, total) events of ``slo`` over ``window`` ending at ``now``.

        Any consistent unit works (events, or events per second): only ratios are used.
        """


def read_http(registry: Any) -> dict[str, tuple[float, float]]:
    """Return the cumulative (good, total) of each HTTP kind from the duration histogram."""
    total = server_errors = internal = fast = 0.0
    for family in registry.collect():
        if family.name != _HISTOGRAM:
            continue
        for sample in family.samples:
            status = str(sample.labels.get("http_response_status_code", ""))
            if sample.name == _HISTOGRAM + "_count":
                total += sample.value
                server_errors += sample.value if status.startswith("5") else 0.0
                internal += sample.value if status == "500" else 0.0
            elif sample.name == _HISTOGRAM + "_bucket" and float(sample.labels["le"]) == 0.5:
                fast += sample.value
    return {
        "http_not_5xx": (total - server_errors, total),
        "http_not_500": (total - internal, total),
        "http_under_500ms": (fast, total),
    }


class Sampler:
    """Store the HTTP counters' increments since the previous sample (the worker's job)."""

    def __init__(
        self,
        registry: Callable[[], Any] = app_registry,
        interval: float | None = None,
    ) -> None:
        self.registry = registry
        self.interval = interval or settings.SLO_SAMPLE_SECONDS
        self._previous: dict[str, tuple[float, float]] | None = None

    def sample(self, now: float) -> dict[str, Any]:
        """Read the counters and store one row per kind; returns what was stored."""
        current = read_http(self.registry())
        previous, self._previous = self._previous, current
        if previous is None:
            return {"stored": 0}  # the first reading only sets the baseline
        # Aligned times: two workers sampling the same interval store one row, not two.
        at = datetime.fromtimestamp(now - now % self.interval, tz=UTC)
        rows = []
        for kind, (good, total) in current.items():
            good0, total0 = previous[kind]
            if total < total0:  # the counters restarted: all they hold is new
                good0 = total0 = 0.0
            rows.append(SliSample(kind=kind, at=at, good=good - good0, total=total - total0))
        SliSample.objects.bulk_create(rows, ignore_conflicts=True)
        longest = max((s.window_seconds for s in slos()), default=30 * 86400)
        SliSample.objects.filter(at__lt=at - timedelta(seconds=longest + 86400)).delete()
        return {"stored": len(rows)}


class EmbeddedCounts:
    """Counts from the app's own data (see the module docstring)."""

    def counts(self, slo: SLO, window: str, now: float) -> tuple[float, float]:
        until = datetime.fromtimestamp(now, tz=UTC)
        since = until - timedelta(seconds=window_seconds(window))
        if slo.embedded in HTTP_KINDS:
            row = SliSample.objects.filter(
                kind=slo.embedded, at__gt=since, at__lte=until
            ).aggregate(good=Sum("good"), total=Sum("total"))
            return float(row["good"] or 0.0), float(row["total"] or 0.0)
        if slo.embedded == "first_response":
            met, missed = first_response_outcomes(since, until)
            return float(met), float(met + missed)
        row = ProbeRun.objects.filter(started_at__gt=since, started_at__lte=until).aggregate(
            good=Count("pk", filter=Q(success=True)), total=Count("pk")
        )
        return float(row["good"]), float(row["total"])
