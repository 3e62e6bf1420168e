"""The histogram layout of the browser metrics and the series it costs (no Django, no
prometheus_client: settings.py checks the configured allowlists against the budget).

Every bucket layout has a bound on both thresholds of each metric it holds (web.dev's
good / poor limits), so "share of good page views" is a bucket ratio, not an interpolation.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# Seconds. LCP 2.5/4, INP 0.2/0.5, FCP 1.8/3, TTFB 0.8/1.8.
VITAL_BUCKETS = (0.1, 0.2, 0.5, 0.8, 1.0, 1.8, 2.5, 3.0, 4.0, 6.0, 10.0)
# Unitless. CLS 0.1/0.25.
CLS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)
PAGE_LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
INTERACTION_BUCKETS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

# metric name → (good, poor) thresholds, in the unit of its histogram.
THRESHOLDS = {
    "LCP": (2.5, 4.0),
    "INP": (0.2, 0.5),
    "CLS": (0.1, 0.25),
    "FCP": (1.8, 3.0),
    "TTFB": (0.8, 1.8),
}
TIMED_VITALS = ("LCP", "INP", "FCP", "TTFB")
DEVICES = ("desktop", "mobile", "tablet")
PHASES = ("dom_content_loaded", "load_complete", "total")
OTHER = "other"
# The rejection counter's reasons.
REJECT_REASONS = ("origin", "rate_limited", "too_large", "invalid", "stale")
MAX_SERIES = 5000


def _per_child(buckets: tuple[float, ...]) -> int:
    # Every bound, +Inf, _sum and _count.
    return len(buckets) + 3


def series(routes: int, actions: int) -> int:
    """Return the most series the browser metrics can expose with ``routes`` allowed routes
    and ``actions`` allowed actions (each plus ``other``)."""
    r, a = routes + 1, actions + 1
    vitals = len(TIMED_VITALS) * len(DEVICES) * _per_child(VITAL_BUCKETS)
    cls = len(DEVICES) * _per_child(CLS_BUCKETS)
    page_load = len(PHASES) * _per_child(PAGE_LOAD_BUCKETS)
    interactions = a * _per_child(INTERACTION_BUCKETS)
    return r * (vitals + cls + page_load + interactions) + len(REJECT_REASONS)
