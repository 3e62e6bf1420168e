"""Template tags of the console: ``{% chart "name" %}`` and the ``figure`` filter.

``{% chart "overview.traffic" %}`` renders the chart's frame: a <figure> with its title and
the URL of its JSON (for the chosen range); frontend/src/console/charts.ts fetches it and draws
the chart and its table. ``{{ value|figure:"seconds" }}`` formats a number in a chart unit.
"""

from __future__ import annotations

import logging
from typing import Any

from django import template
from django.template.loader import render_to_string
from django.urls import reverse

from helpdesk.monitoring.console import charts

logger = logging.getLogger(__name__)
register = template.Library()
NO_DATA = "—"  # an em dash, as frontend/src/console/format.ts writes a missing value


@register.simple_tag(takes_context=True)
def chart(context: template.Context, name: str, size: str = "", series: str = "") -> str:
    """Render the frame of the registered chart ``name`` (``size="small"``: a sparkline;
    ``series``: draw only the line of that legend, e.g. one route of a per-route chart)."""
    found = charts.CHARTS[name]
    range_ = context.get("range") or charts.range_of(None)
    url = reverse("console-chart", kwargs={"name": name}) + f"?range={range_.key}"
    # render_to_string escapes every value and returns a SafeString (kept as it is by the tag).
    return render_to_string(
        "console/_chart.html",
        {"chart": found, "url": url, "size": size, "series": series, "range": range_},
    )


@register.filter
def figure(value: Any, unit: str) -> str:
    """Format ``value`` in ``unit`` (req/s, ratio, seconds, bytes, count); NO_DATA for None."""
    if value is None or value == "":
        return NO_DATA
    number = float(value)
    if unit == "ratio":
        return f"{number * 100:.2f} %"
    if unit == "seconds":
        return f"{number * 1000:.0f} ms" if number < 1 else f"{number:.2f} s"
    if unit == "req/s":
        return f"{number:.2f}/s" if number < 100 else f"{number:.0f}/s"
    if unit == "bytes":
        for suffix in ("B", "KiB", "MiB", "GiB"):
            if abs(number) < 1024:
                return f"{number:.0f} {suffix}"
            number /= 1024
        return f"{number:.0f} TiB"
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


@register.simple_tag
def vital(row: dict[str, Any], name: str) -> Any:
    """Return ``row["vitals"][name]`` (a route's figures of one Web Vital), or None."""
    return row.get("vitals", {}).get(name)
