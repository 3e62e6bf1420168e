"""The browser metrics (multiprocess-safe prometheus_client histograms; docs/metrics.md)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram

from helpdesk.monitoring.browser.budget import (
    CLS_BUCKETS,
    INTERACTION_BUCKETS,
    PAGE_LOAD_BUCKETS,
    VITAL_BUCKETS,
)

logger = logging.getLogger(__name__)

WEB_VITAL = Histogram(
    "browser_web_vital_seconds",
    "Core Web Vitals measured in browsers (LCP, INP, FCP, TTFB), by page route and device.",
    ["metric", "route", "device"],
    buckets=VITAL_BUCKETS,
)
CLS = Histogram(
    "browser_web_vital_cls",
    "Cumulative Layout Shift measured in browsers (unitless score), by page route and device.",
    ["route", "device"],
    buckets=CLS_BUCKETS,
)
PAGE_LOAD = Histogram(
    "browser_page_load_seconds",
    "Navigation timing of page loads: dom_content_loaded, load_complete and total, by route.",
    ["phase", "route"],
    buckets=PAGE_LOAD_BUCKETS,
)
INTERACTION = Histogram(
    "browser_interaction_seconds",
    "Durations of user interactions the pages report, by action and route.",
    ["action", "route"],
    buckets=INTERACTION_BUCKETS,
)
REJECTED = Counter(
    "browser_reports_rejected",
    "Analytics reports refused, by reason (origin, rate_limited, too_large, invalid, stale).",
    ["reason"],
)
