"""Tracing metrics (module level, multiprocess-safe); docs/metrics.md lists them.

- ``helpdesk_tracing_spans_dropped_total{reason}``: finished spans that never reached the
  collector: ``queue_full`` (the bounded export queue was full, usually a slow or unreachable
  collector) or ``export_failed`` (the collector refused the batch or did not answer in time).
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

logger = logging.getLogger(__name__)

DROP_REASONS = ("queue_full", "export_failed")
SPANS_DROPPED = Counter(
    "helpdesk_tracing_spans_dropped",
    "Finished spans not delivered to the trace collector, by reason.",
    ["reason"],
)
