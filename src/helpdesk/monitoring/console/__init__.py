"""The monitoring console at /monitoring/: server-rendered pages over the monitoring packages,
charts drawn in the browser from JSON endpoints answered by the one query layer
(helpdesk.monitoring.history.query). See docs/console.md."""

from __future__ import annotations
