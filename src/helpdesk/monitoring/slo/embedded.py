"""Good and total events of the SLIs for the embedded evaluator and report.

- ``http_not_5xx``, ``http_not_500``, ``http_under_500ms``: increases of the HTTP duration
  histogram over the window, asked through the one query layer
  (``helpdesk.monitoring.history.query``) of the embedded metrics history, or of Prometheus
  when PROMETHEUS_URL is set: the same questions the SLO file asks Prometheus. The probes'
  requests are not in the histogram (``helpdesk.lib.synthetic``).
- ``first_response``: tickets whose first-response outcome became known in the window.
- ``probes``: probe runs in the window, the good ones successful.

``Counts`` is the interface both this module and ``prometheus.PrometheusCounts`` implement.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db.models import Count, Q

from helpdesk.monitoring.history import query
from helpdesk.monitoring.probes.models import ProbeRun
from helpdesk.monitoring.slo.spec import SLO, window_seconds
from helpdesk.tickets.services import first_response_outcomes

logger = logging.getLogger(__name__)

_COUNT = "http_server_request_duration_seconds_count"
# Each HTTP kind as (good, total) selectors of the request histogram's counters.
HTTP_SELECTORS = {
    "http_not_5xx": (f'{_COUNT}{{http_response_status_code!~"5.."}}', _COUNT),
    "http_not_500": (f'{_COUNT}{{http_response_status_code!="500"}}', _COUNT),
    "http_under_500ms": ('http_server_request_duration_seconds_bucket{le="0.5"}', _COUNT),
}
HTTP_KINDS = tuple(HTTP_SELECTORS)


class Counts(Protocol):
    """Where an SLO report reads its events."""

    def counts(self, slo: SLO, window: str, now: float) -> tuple[float, float]:
        """Return (good, total) events of ``slo`` over ``window`` ending at ``now``.

        Any consistent unit works (events, or events per second): only ratios are used.
        """


class EmbeddedCounts:
    """Counts from the app's own data (see the module docstring)."""

    def counts(self, slo: SLO, window: str, now: float) -> tuple[float, float]:
        seconds = window_seconds(window)
        if slo.embedded in HTTP_SELECTORS:
            # With PROMETHEUS_URL the worker keeps no history: the query layer asks Prometheus,
            # as the embedded evaluator's other request rules do.
            history = query.backend() if settings.PROMETHEUS_URL else query.EmbeddedBackend(now)
            good, total = (
                sum(v.value for v in history.instant(query.increase(selector, seconds), now))
                for selector in HTTP_SELECTORS[slo.embedded]
            )
            return good, total
        until = datetime.fromtimestamp(now, tz=UTC)
        since = until - timedelta(seconds=seconds)
        if slo.embedded == "first_response":
            met, missed = first_response_outcomes(since, until)
            return float(met), float(met + missed)
        row = ProbeRun.objects.filter(started_at__gt=since, started_at__lte=until).aggregate(
            good=Count("pk", filter=Q(success=True)), total=Count("pk")
        )
        return float(row["good"]), float(row["total"])
