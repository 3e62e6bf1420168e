"""Configuration checks of settings.py, run by ``helpdesk check`` (``--deploy`` too).

settings.py only reads the environment (a value that cannot be parsed still stops it with the
variable's name); whether the values make sense together is decided here, as Django system
checks. ``helpdesk serve``, ``helpdesk start``, ``helpdesk worker`` and ``migrate`` run them
before doing anything, so a production instance with a default secret, DEBUG on or a short
token does not start.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from helpdesk.lib.client_ip import parse_networks
from helpdesk.monitoring.browser import budget as browser_budget

logger = logging.getLogger(__name__)

_INSECURE_SECRET_PREFIXES = ("django-insecure", "changeme", "change-me", "secret", "dev")
THROTTLE_GROUPS = ("auth", "admin", "api", "other")
MIN_TOKEN_CHARS = 32


def _secret_key() -> str:
    try:
        return str(settings.SECRET_KEY)
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        return ""


def production(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse unsafe defaults when HELPDESK_ENV=production: secrets, DEBUG, hosts, tokens."""
    if not settings.PRODUCTION:
        return []
    errors: list[checks.CheckMessage] = []
    key = _secret_key()
    if len(key) < 50 or key.lower().startswith(_INSECURE_SECRET_PREFIXES):
        errors.append(
            checks.Error(
                "HELPDESK_ENV=production needs SECRET_KEY set to a random value of at least "
                "50 characters (python -c 'import secrets; print(secrets.token_urlsafe(64))')",
                id="helpdesk.E001",
            )
        )
    if settings.DEBUG:
        errors.append(
            checks.Error("DEBUG must be off when HELPDESK_ENV=production", id="helpdesk.E002")
        )
    if not settings.ALLOWED_HOSTS:
        errors.append(
            checks.Error("HELPDESK_ENV=production needs ALLOWED_HOSTS", id="helpdesk.E003")
        )
    tokens = {
        "MONITORING_API_TOKEN": settings.MONITORING_API_TOKEN,
        "ALERTMANAGER_WEBHOOK_TOKEN": settings.ALERTMANAGER_WEBHOOK_TOKEN,
        "HEALTH_TOKEN": settings.HEALTH_TOKEN,
        "METRICS_TOKEN": settings.METRICS_TOKEN,
    }
    errors += [
        checks.Error(f"{name} must be at least {MIN_TOKEN_CHARS} characters", id="helpdesk.E004")
        for name, token in tokens.items()
        if token and len(token) < MIN_TOKEN_CHARS
    ]
    return errors


def networks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Fail on an entry of TRUSTED_PROXIES or METRICS_ALLOWED_NETWORKS that is no network."""
    errors: list[checks.CheckMessage] = []
    for name, value in (
        ("TRUSTED_PROXIES", settings.TRUSTED_PROXIES),
        ("METRICS_ALLOWED_NETWORKS", settings.METRICS_ALLOWED_NETWORKS),
    ):
        try:
            parse_networks(value)
        except ValueError as error:
            errors.append(checks.Error(f"{name}: {error}", id="helpdesk.E005"))
    return errors


def monitoring(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Fail on health deadlines, disk thresholds, throttle groups that cannot work, and browser
    label allowlists that could pass the browser metrics' series budget."""
    errors: list[checks.CheckMessage] = []
    if settings.HEALTH_DEADLINE_SECONDS <= 0 or settings.HEALTH_CACHE_SECONDS < 0:
        errors.append(
            checks.Error(
                "HEALTH_DEADLINE_SECONDS must be > 0, HEALTH_CACHE_SECONDS >= 0",
                id="helpdesk.E006",
            )
        )
    if not 0 < settings.HEALTH_DISK_WARN_PERCENT <= settings.HEALTH_DISK_FAIL_PERCENT <= 100:
        errors.append(
            checks.Error(
                "HEALTH_DISK_WARN_PERCENT must be > 0 and <= HEALTH_DISK_FAIL_PERCENT "
                "(at most 100)",
                id="helpdesk.E007",
            )
        )
    if not set(settings.SECURITY_THROTTLE_GROUPS) <= set(THROTTLE_GROUPS):
        errors.append(
            checks.Error(
                f"SECURITY_THROTTLE_GROUPS: use {', '.join(THROTTLE_GROUPS)}", id="helpdesk.E008"
            )
        )
    routes = len(settings.BROWSER_ROUTE_SET) + settings.BROWSER_RESOLVED_ROUTES
    actions = len(settings.BROWSER_ACTION_SET)
    series = browser_budget.series(routes, actions)
    if series > browser_budget.MAX_SERIES:
        errors.append(
            checks.Error(
                f"BROWSER_ROUTES with BROWSER_RESOLVED_ROUTES ({routes}) and BROWSER_ACTIONS "
                f"({actions}) allow {series} browser series, over {browser_budget.MAX_SERIES}: "
                "allow fewer routes or actions",
                id="helpdesk.E009",
            )
        )
    return errors


def register() -> None:
    """Register the checks; they run with and without ``--deploy``."""
    for check in (production, networks, monitoring):
        checks.register(check, "helpdesk")
