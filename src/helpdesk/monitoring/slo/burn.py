"""Error budgets and burn rates: the maths both paths share (SRE workbook, chapter 5).

With an objective of 99.9 % the budget is 0.1 % of events. The *burn rate* over a window is
the window's error ratio divided by the budget: 1 spends the budget exactly over the SLO
window, 14.4 spends 2 % of a 30-day budget in one hour. An alert pairs a long window (the
trend) with a short one (is it still happening?), and fires when both burn faster than the
factor:

===========  ======  =====  ========  =============================
severity     long    short  factor    budget spent when it fires
===========  ======  =====  ========  =============================
page         1h      5m     14.4      2 % of 30 d in 1 h
page         6h      30m    6         5 % of 30 d in 6 h
ticket       1d      2h     3         10 % of 30 d in 1 d
ticket       3d      6h     1         10 % of 30 d in 3 d
===========  ======  =====  ========  =============================
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BurnAlert:
    """One of the four multiwindow burn-rate conditions."""

    long: str
    short: str
    factor: float
    severity: str  # "critical" pages, "warning" makes a ticket


BURN_ALERTS = (
    BurnAlert("1h", "5m", 14.4, "critical"),
    BurnAlert("6h", "30m", 6.0, "critical"),
    BurnAlert("1d", "2h", 3.0, "warning"),
    BurnAlert("3d", "6h", 1.0, "warning"),
)
# Every window a burn rate is computed over (recording rules, the report).
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def error_ratio(good: float, total: float) -> float | None:
    """Return the share of bad events, or None without events."""
    if total <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - good / total))


def burn_rate(ratio: float | None, budget: float) -> float | None:
    """Return how many times faster than sustainable the budget burns."""
    return None if ratio is None else ratio / budget


def budget_remaining(ratio: float | None, budget: float) -> float:
    """Return the share of the window's budget left (1 untouched, 0 spent, negative over)."""
    return 1.0 if ratio is None else 1.0 - ratio / budget


def seconds_to_exhaustion(
    remaining: float, burn: float | None, window_seconds: float
) -> float | None:
    """Return how long until the budget is spent at ``burn``, or None when it is not burning.

    A burn rate of 1 spends a whole budget in one SLO window, so what is left lasts
    ``remaining * window / burn``; an exhausted budget answers 0.
    """
    if remaining <= 0:
        return 0.0
    if burn is None or burn <= 0 or math.isnan(burn):
        return None
    return remaining * window_seconds / burn


def firing(burns: dict[str, float | None], alert: BurnAlert) -> bool:
    """Return True when both windows of ``alert`` burn faster than its factor."""
    long, short = burns.get(alert.long), burns.get(alert.short)
    return long is not None and short is not None and long > alert.factor and short > alert.factor
