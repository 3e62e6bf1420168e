"""Browser monitoring: the analytics endpoints behind the browser SDK (frontend/src/monitor/)
and the Prometheus histograms of Web Vitals, page loads and interactions they feed.

Measurements never become rows: each value is one observation in a bounded histogram
(``instruments``), labelled by route, device and action from closed allowlists (``labels``).
Errors from the browser go to the error tracker's Sentry-compatible envelope endpoint instead.
See docs/browser-monitoring.md.
"""

from __future__ import annotations
