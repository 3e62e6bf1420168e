"""``{% load browser_monitor %}{% monitor_script %}``: the SDK on one of the platform's pages.

Renders ``<script src="/static/helpdesk/monitor.js" data-dsn=… data-release=…>`` with the DSN of
the platform's own error tracking project, so the platform's pages (the admin, the monitoring
console) report their JavaScript errors as issues and their Web Vitals to /metrics like any
monitored site. The page's route label comes from its URL (the server resolves it to the Django
route template). A static file of our origin: the strict CSP (``script-src 'self'``) holds.
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


@register.simple_tag(takes_context=True)
def monitor_script(context: template.Context) -> SafeString:
    """Return the SDK's script tag for the page being rendered."""
    request = context.get("request")
    dsn = dsn_for(request) if isinstance(request, HttpRequest) else ""
    return format_html(
        '<script src="{}" data-dsn="{}" data-release="{}" data-environment="{}"></script>',
        static("helpdesk/monitor.js"),
        dsn,
        settings.HELPDESK_VERSION,
        settings.HELPDESK_ENV,
    )
