"""``{% load browser_monitor %}{% monitor_script %}``: the SDK on one of the platform's pages.

Renders ``<script src="/static/helpdesk/monitor.js" data-dsn=… data-release=…>`` with the DSN of
the platform's own error tracking project, so the platform's pages (the admin, the monitoring
console) report their JavaScript errors as issues and their Web Vitals to /metrics like any
monitored site. The page's route label comes from its URL (the server resolves it to the Django
route template). A static file of our origin: the strict CSP (``script-src 'self'``) holds.
With tracing on and the request sampled, a ``<meta name="traceparent">`` naming the page's
request span comes first: the SDK attaches its trace id to errors and Web Vitals and joins the
page's API calls to the trace (docs/tracing.md).
"""

from __future__ import annotations

import logging

from django import template
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString

from helpdesk.lib import request_context

logger = logging.getLogger(__name__)
register = template.Library()


def dsn_for(request: HttpRequest) -> str:
    """Return the platform project's DSN as this request reaches the app ("" if unavailable).

    One query per page (the project row); a rotated key is on the next page at once.
    """
    from helpdesk.monitoring.errors.server import platform_project

    try:
        project = platform_project()
    except DatabaseError:
        logger.warning("platform project unavailable: the page reports measurements only")
        return ""
    return project.dsn(f"{request.scheme}://{request.get_host()}")


def _traceparent_meta() -> str:
    """Return the meta tag naming the request span (bound by tracing when sampled), or ""."""
    context = request_context.current()
    trace_id, span_id = context.get("trace.id"), context.get("span.id")
    if not trace_id or not span_id:
        return ""
    return format_html('<meta name="traceparent" content="00-{}-{}-01">', trace_id, span_id)


@register.simple_tag(takes_context=True)
def monitor_script(context: template.Context) -> SafeString:
    """Return the SDK's script tag for the page being rendered."""
    request = context.get("request")
    dsn = dsn_for(request) if isinstance(request, HttpRequest) else ""
    return format_html(
        '{}<script src="{}" data-dsn="{}" data-release="{}" data-environment="{}"></script>',
        _traceparent_meta(),
        static("helpdesk/monitor.js"),
        dsn,
        settings.HELPDESK_VERSION,
        settings.HELPDESK_ENV,
    )
