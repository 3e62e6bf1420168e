"""Error tracking metrics (module level, multiprocess-safe); docs/metrics.md lists them.

- ``errors_events_total{project,level,source}``: events ingested (source ``sdk`` for what
  Sentry SDKs and the browser SDK send, ``server`` for exceptions the app captured itself).
- ``errors_items_dropped_total{type}``: envelope items accepted but not stored (transactions,
  sessions, client reports, attachments…, and events over the project's rate limit).
- ``errors_client_discarded_total{reason,category}``: what SDKs say they dropped before
  sending (Sentry client reports: over a rate limit, a full queue, ``beforeSend``…), summed
  quantities; reasons and categories outside Sentry's lists count as ``other``.
- ``error_issues_new_total{project}``: issues created; ``error_issues_regressed_total{project}``:
  resolved issues reopened by a new event.

``project`` is the project's slug: a bounded set staff create, never client input.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

logger = logging.getLogger(__name__)

EVENTS = Counter("errors_events", "Error events ingested.", ["project", "level", "source"])
ITEMS_DROPPED = Counter(
    "errors_items_dropped", "Envelope items accepted but not stored, by item type.", ["type"]
)
CLIENT_DISCARDED = Counter(
    "errors_client_discarded",
    "Items SDKs reported they dropped before sending (Sentry client reports).",
    ["reason", "category"],
)
ISSUES_NEW = Counter("error_issues_new", "Error issues created.", ["project"])
ISSUES_REGRESSED = Counter(
    "error_issues_regressed", "Resolved error issues reopened by a new event.", ["project"]
)
