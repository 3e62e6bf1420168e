"""The security event bus: events are published once, storage/metrics/logs/alerts subscribe.

``publish(action, **fields)`` stores nothing itself: it cleans the fields and calls every
subscriber with ``callback(action, **fields)``. ``action`` is an OWASP Logging Vocabulary name
(``ACTIONS``). The cleaning is the one place that keeps secrets out of every consumer:

- a field whose name names a secret (password, token, session, cookie, authorization, csrf…,
  see ``helpdesk.lib.redaction.is_sensitive_key``) is dropped;
- ``username`` is replaced by ``username_hash``, a keyed hash (HMAC-SHA256 with SECRET_KEY),
  so failed-login names can be correlated without being kept in plain text;
- values are scalars, strings capped at ``MAX_FIELD_CHARS``.

A subscriber that raises is logged and skipped: a security event never breaks a request.
``install_default_subscribers()`` (called by the app's ``ready``) connects storage, metrics and
ECS logging; packages that read the events (alerting) subscribe from their own ``ready``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from django.db import DatabaseError
from django.http import HttpRequest

from helpdesk.lib import outages
from helpdesk.lib.redaction import is_sensitive_key
from helpdesk.monitoring.security.metrics import SECURITY_EVENTS
from helpdesk.monitoring.security.usernames import hash_username

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("helpdesk.security")

MAX_FIELD_CHARS = 512

# The OWASP Logging Vocabulary names this product publishes (docs/security-monitoring.md).
ACTIONS: dict[str, str] = {
    "authn_login_success": "authentication",
    "authn_login_successafterfail": "authentication",
    "authn_login_fail": "authentication",
    "authn_login_lock": "authentication",
    "authn_login_unlock": "authentication",
    "authn_password_change": "authentication",
    "authn_token_created": "authentication",
    "authn_token_revoked": "authentication",
    "session_expired": "authentication",
    "authz_admin": "authentication",
    "authz_change": "iam",
    "authz_fail": "web",
    "malicious_direct_reference": "web",
    "excess_rate_limit_exceeded": "web",
    "malicious_excess_404": "web",
    "malicious_attack_tool": "web",
    "malicious_probe_path": "web",
    # The login lockout's shared store failed (per-process counters) / answers again.
    "sys_monitor_disabled": "intrusion_detection",
    "sys_monitor_enabled": "intrusion_detection",
}
_SUCCESS = frozenset(
    {
        "authn_login_success",
        "authn_login_successafterfail",
        "authn_login_unlock",
        "authn_password_change",
        "authn_token_created",
        "authn_token_revoked",
        "session_expired",
        "authz_admin",
        "authz_change",
        "sys_monitor_enabled",
    }
)
# Failures by a client (not state changes) are worth a WARNING line.
_WARNING_PREFIXES = (
    "authn_login_fail",
    "authn_login_lock",
    "authz_fail",
    "malicious_",
    "excess_",
    "sys_monitor_disabled",
)


class Subscriber(Protocol):
    def __call__(self, action: str, **fields: Any) -> None: ...


_subscribers: list[Callable[..., None]] = []
_lock = threading.Lock()


def subscribe(callback: Callable[..., None]) -> None:
    """Call ``callback(action, **fields)`` for every published event (once per callback)."""
    with _lock:
        if callback not in _subscribers:
            _subscribers.append(callback)


def unsubscribe(callback: Callable[..., None]) -> None:
    """Stop calling ``callback``; unknown callbacks are ignored."""
    with _lock:
        if callback in _subscribers:
            _subscribers.remove(callback)


def outcome_of(action: str) -> str:
    """Return the ECS ``event.outcome`` of an action: success or failure."""
    return "success" if action in _SUCCESS else "failure"


def clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Return ``fields`` without secrets: see the module docstring."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "username":
            if value:
                out["username_hash"] = hash_username(str(value))
            continue
        if is_sensitive_key(key):
            continue
        if value is None or isinstance(value, bool | int | float):
            out[key] = value
        else:
            out[key] = str(value)[:MAX_FIELD_CHARS]
    return out


def request_fields(request: HttpRequest | None) -> dict[str, Any]:
    """Return the fields every request-bound event carries: client IP, user, path, agent."""
    if request is None:
        return {}
    from helpdesk.lib.client_ip import client_ip
    from helpdesk.monitoring.security.agents import classify

    agent = request.META.get("HTTP_USER_AGENT", "")
    fields: dict[str, Any] = {
        "ip": client_ip(request),
        "path": request.path,
        "method": request.method or "",
        "user_agent": agent,
        "user_agent_class": classify(agent),
        "request_id": getattr(request, "request_id", None),
    }
    # Django's session user is read lazily; an event never fails because the database does.
    user = getattr(request, "user", None)  # None before AuthenticationMiddleware has run
    try:
        if user is not None and user.is_authenticated and user.pk is not None:
            fields["user_id"] = user.pk
    except DatabaseError:
        logger.debug("no user id on the security event: database unavailable")
    return fields


def publish(action: str, **fields: Any) -> None:
    """Publish a security event to every subscriber (see the module docstring)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown security event action: {action!r}")
    fields.setdefault("outcome", outcome_of(action))
    cleaned = clean_fields(fields)
    with _lock:
        subscribers = list(_subscribers)
    for callback in subscribers:
        try:
            callback(action, **cleaned)
        except DatabaseError as error:
            outages.report("database", error, source="security event store")
        except Exception:
            logger.exception("security event subscriber %r failed", callback)


def publish_for(request: HttpRequest | None, action: str, **fields: Any) -> None:
    """Publish ``action`` with the request's fields (explicit ``fields`` win)."""
    publish(action, **{**request_fields(request), **fields})


# --- The default subscribers -------------------------------------------------------------


def store(action: str, **fields: Any) -> None:
    """Subscriber: append the event to the SecurityEvent table."""
    from helpdesk.monitoring.security.models import SecurityEvent

    SecurityEvent.record(action, fields)


def count(action: str, **fields: Any) -> None:
    """Subscriber: count the event in ``helpdesk_security_events_total{type}``."""
    SECURITY_EVENTS.labels(type=action).inc()


def log(action: str, **fields: Any) -> None:
    """Subscriber: write one ECS line on the ``helpdesk.security`` logger."""
    level = logging.WARNING if action.startswith(_WARNING_PREFIXES) else logging.INFO
    if not security_logger.isEnabledFor(level):
        return
    extra: dict[str, Any] = {
        "event.kind": "event",
        "event.category": [ACTIONS[action]],
        "event.action": action,
        "event.outcome": fields.get("outcome", outcome_of(action)),
    }
    mapping = {
        "ip": "client.ip",
        "user_id": "user.id",
        "path": "url.path",
        "method": "http.request.method",
        "user_agent": "user_agent.original",
        "reason": "event.reason",
        "username_hash": "user.hash",
    }
    for key, value in fields.items():
        if value is None or key in {"outcome", "request_id"}:
            continue
        extra[mapping.get(key, f"labels.{key}")] = value
    who = fields.get("ip") or "-"
    reason = f" ({fields['reason']})" if fields.get("reason") else ""
    security_logger.log(level, "security event %s from %s%s", action, who, reason, extra=extra)


def install_default_subscribers() -> None:
    """Connect storage, metrics and logging (readers such as alerting subscribe themselves)."""
    for callback in (store, count, log):
        subscribe(callback)
