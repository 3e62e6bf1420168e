"""The console's navigation: one entry per page, in the order the menu shows them.

Adding a page adds one ``NavItem`` here (its URL name in ``console/urls.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NavItem:
    """A menu entry: the page's key (templates mark the active one), label and URL name."""

    key: str
    label: str
    url_name: str


NAV: list[NavItem] = [
    NavItem("overview", "Overview", "console:overview"),
    NavItem("requests", "Requests", "console:requests"),
    NavItem("alerts", "Alerts", "console:alerts"),
    NavItem("errors", "Errors & browser", "console:errors"),
    NavItem("database", "Database", "console:database"),
    NavItem("system", "System", "console:system"),
    NavItem("security", "Security", "console:security"),
    NavItem("business", "Business", "console:business"),
]
