"""Security events (an append-only audit trail) and the last TLS probe result per host."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, models
from django.utils import timezone

logger = logging.getLogger(__name__)

_COLUMNS = {"ip", "user_id", "username_hash", "path", "method", "user_agent", "reason", "outcome"}


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a stored security event."""


class SecurityEvent(models.Model):
    """One security event. The app only ever inserts rows; ``purge`` enforces retention."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, default="failure")
    client_ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    # A plain id, not a foreign key: deleting a user must not rewrite the audit trail.
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Keyed hash of the username tried (failed logins): correlates without keeping the name.
    username_hash = models.CharField(max_length=64, blank=True, db_index=True)
    method = models.CharField(max_length=16, blank=True)
    path = models.CharField(max_length=512, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    user_agent_class = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["action", "created_at"], name="secevent_action_time"),
            models.Index(fields=["client_ip", "created_at"], name="secevent_ip_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} from {self.client_ip or '-'} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("security events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("security events are removed by retention only (purge)")

    @classmethod
    def record(cls, action: str, fields: dict[str, Any]) -> SecurityEvent | None:
        """Insert an event from cleaned bus fields; returns None when the database fails."""
        details = {
            k: v
            for k, v in fields.items()
            if k not in _COLUMNS | {"user_agent_class", "request_id"}
        }
        event = cls(
            action=action,
            outcome=str(fields.get("outcome") or "failure")[:16],
            client_ip=fields.get("ip") or None,
            user_id=fields.get("user_id"),
            username_hash=fields.get("username_hash") or "",
            method=str(fields.get("method") or "")[:16],
            path=str(fields.get("path") or "")[:512],
            user_agent=str(fields.get("user_agent") or "")[:512],
            user_agent_class=str(fields.get("user_agent_class") or "")[:16],
            reason=str(fields.get("reason") or "")[:200],
            request_id=str(fields.get("request_id") or "")[:128],
            details=details,
        )
        try:
            event.save()
        except DatabaseError as error:
            # The log line and the metric still carry the event.
            logger.warning("security event %s not stored: %s", action, type(error).__name__)
            return None
        return event

    @classmethod
    def purge(cls, before: datetime) -> int:
        """Delete events older than ``before`` (the retention job); returns how many."""
        deleted, _ = models.QuerySet(cls).filter(created_at__lt=before).delete()
        return deleted


def purge_expired_events() -> dict[str, int]:
    """Delete events older than SECURITY_EVENT_RETENTION_DAYS (the worker's daily job)."""
    cutoff = timezone.now() - timedelta(days=settings.SECURITY_EVENT_RETENTION_DAYS)
    return {"deleted": SecurityEvent.purge(cutoff)}


class TlsProbeResult(models.Model):
    """The last TLS probe of a host (written by the worker, read by /metrics)."""

    host = models.CharField(max_length=255, unique=True)
    checked_at = models.DateTimeField()
    success = models.BooleanField(default=False)
    not_after = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.host}: {'ok' if self.success else self.error or 'failed'}"
