"""The console's pages, one module each. Importing the package registers every page's charts
(the chart endpoint's OpenAPI schema lists them)."""

from __future__ import annotations

from helpdesk.monitoring.console.pages import (
    alerts,
    business,
    database,
    errors,
    overview,
    security,
    system,
    traffic,
)

__all__ = [
    "alerts",
    "business",
    "database",
    "errors",
    "overview",
    "security",
    "system",
    "traffic",
]
