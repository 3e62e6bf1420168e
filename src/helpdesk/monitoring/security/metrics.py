"""Security metrics kept by the process (module level, multiprocess-safe).

- ``helpdesk_security_events_total{type}``: security events by OWASP action (a bounded set;
  usernames and IPs never become labels).
- ``helpdesk_security_lockout_degraded``: 1 while a live process counts login failures in its
  own memory because the shared cache is unavailable (``store``).

The gauges read at scrape time (lockouts, TLS) are in ``collector.py``.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge

logger = logging.getLogger(__name__)

SECURITY_EVENTS = Counter(
    "helpdesk_security_events",
    "Security events by OWASP Logging Vocabulary action.",
    ["type"],
)
LOCKOUT_DEGRADED = Gauge(
    "helpdesk_security_lockout_degraded",
    "1 while login lockout counts per process because the shared cache is unavailable.",
    # Any live process degraded means the limits are per process somewhere.
    multiprocess_mode="livemax",
)
