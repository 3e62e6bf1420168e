"""Turn Django's authentication and model signals into security events.

- ``user_login_failed``: count the failure (per IP and account), publish ``authn_login_fail``
  and, when a limit is reached, ``authn_login_lock``; the request is marked so the middleware
  answers 429.
- ``user_logged_in``: ``authn_login_success`` or ``authn_login_successafterfail``, plus
  ``authz_admin`` for a staff login to the admin site; the account's failures are forgotten
  (the IP's are not: one valid account must not reset an attacker's counter).
- ``user_logged_out``: ``session_expired`` with reason ``logout`` (OWASP has no logout name).
- a user's password, is_staff or is_superuser changing: ``authn_password_change`` /
  ``authz_change``; a membership created, changed or deleted: ``authz_change``.
- the lockout's shared cache failing or answering again (``store.degraded_changed``):
  ``sys_monitor_disabled`` / ``sys_monitor_enabled`` and ``helpdesk_security_lockout_degraded``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save, pre_save
from django.http import HttpRequest

from helpdesk.lib.client_ip import client_ip
from helpdesk.lib.request_context import current_request
from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.backends import LOCK_ATTRIBUTE
from helpdesk.monitoring.security.lockout import account_key, engine
from helpdesk.monitoring.security.metrics import LOCKOUT_DEGRADED
from helpdesk.monitoring.security.store import degraded_changed

logger = logging.getLogger(__name__)

_WATCHED_USER_FIELDS = ("password", "is_staff", "is_superuser")


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    username = credentials.get("username") or None
    if request is None:
        events.publish("authn_login_fail", username=username, reason="no_request")
        return
    if getattr(request, "_security_blocked", False):
        lock = getattr(request, LOCK_ATTRIBUTE)
        events.publish_for(
            request,
            "authn_login_fail",
            username=username,
            reason=f"locked_out:{lock.scope}",
        )
        return
    result = engine.record_failure(client_ip(request), username)
    events.publish_for(
        request,
        "authn_login_fail",
        username=username,
        reason="bad_credentials",
        ip_failures=result.ip_failures,
        account_failures=result.account_failures,
    )
    for lock in result.locks:
        setattr(request, LOCK_ATTRIBUTE, lock)
        events.publish_for(
            request,
            "authn_login_lock",
            username=username,
            scope=lock.scope,
            level=lock.level,
            retry_after=lock.retry_after(engine.clock()),
        )


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    username = user.get_username()
    failures = engine.failures("account", account_key(username))
    action = "authn_login_successafterfail" if failures else "authn_login_success"
    fields: dict[str, Any] = {"user_id": user.pk, "username": username}
    if failures:
        fields["retries"] = failures
    events.publish_for(request, action, **fields)
    engine.reset_account(username)
    if request is not None and user.is_staff and request.path.startswith(_admin_prefix()):
        events.publish_for(request, "authz_admin", user_id=user.pk, reason="admin_login")


def _admin_prefix() -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("admin:index")
    except NoReverseMatch:
        return "/admin/"


def on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    fields: dict[str, Any] = {"reason": "logout"}
    if user is not None:
        fields["user_id"] = user.pk
    events.publish_for(request, "session_expired", **fields)


def on_user_pre_save(sender: Any, instance: Any, update_fields: Any = None, **_: Any) -> None:
    instance._security_changes = []
    if instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and not set(update_fields) & set(_WATCHED_USER_FIELDS):
        return  # e.g. last_login on every login: no extra query
    old = sender.objects.filter(pk=instance.pk).values(*_WATCHED_USER_FIELDS).first()
    if old is None:
        return
    instance._security_changes = [f for f in _WATCHED_USER_FIELDS if old[f] != getattr(instance, f)]


def on_user_post_save(sender: Any, instance: Any, created: bool, **_: Any) -> None:
    changes = getattr(instance, "_security_changes", [])
    instance._security_changes = []
    request = current_request()
    if "password" in changes:
        events.publish_for(request, "authn_password_change", target_user_id=instance.pk)
    for field in ("is_staff", "is_superuser"):
        if field in changes:
            events.publish_for(
                request,
                "authz_change",
                target_user_id=instance.pk,
                reason=f"{field}={getattr(instance, field)}",
            )


def on_membership_pre_save(sender: Any, instance: Any, **_: Any) -> None:
    instance._security_old_role = None
    if instance.pk is not None and not instance._state.adding:
        instance._security_old_role = (
            sender.objects.filter(pk=instance.pk).values_list("role", flat=True).first()
        )


def on_membership_post_save(sender: Any, instance: Any, created: bool, **_: Any) -> None:
    old = getattr(instance, "_security_old_role", None)
    if not created and old == instance.role:
        return
    events.publish_for(
        current_request(),
        "authz_change",
        target_user_id=instance.user_id,
        organization_id=instance.organization_id,
        reason=f"role {old or '-'} -> {instance.role}",
    )


def on_membership_deleted(sender: Any, instance: Any, **_: Any) -> None:
    events.publish_for(
        current_request(),
        "authz_change",
        target_user_id=instance.user_id,
        organization_id=instance.organization_id,
        reason=f"role {instance.role} -> -",
    )


def on_lockout_degraded(sender: Any, degraded: bool, alias: str, **_: Any) -> None:
    LOCKOUT_DEGRADED.set(1 if degraded else 0)
    if degraded:
        events.publish(
            "sys_monitor_disabled",
            monitor="login_lockout",
            reason=f"cache {alias} unavailable: counting per process",
        )
    else:
        events.publish("sys_monitor_enabled", monitor="login_lockout", reason=f"cache {alias}")


def connect() -> None:
    """Connect every receiver (idempotent: dispatch_uid)."""
    from helpdesk.accounts.models import Membership

    user_model = get_user_model()
    user_login_failed.connect(on_login_failed, dispatch_uid="security.login_failed")
    user_logged_in.connect(on_logged_in, dispatch_uid="security.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="security.logged_out")
    pre_save.connect(on_user_pre_save, sender=user_model, dispatch_uid="security.user_pre")
    post_save.connect(on_user_post_save, sender=user_model, dispatch_uid="security.user_post")
    pre_save.connect(on_membership_pre_save, sender=Membership, dispatch_uid="security.m_pre")
    post_save.connect(on_membership_post_save, sender=Membership, dispatch_uid="security.m_post")
    post_delete.connect(on_membership_deleted, sender=Membership, dispatch_uid="security.m_del")
    degraded_changed.connect(on_lockout_degraded, dispatch_uid="security.lockout_degraded")
