"""The shared base of notification transports; one package per kind under ``integrations/``.

A transport turns a ``Message`` into a delivery: ``send()`` returns None on success and raises
``TransportError(message, permanent=…)`` on failure. A retryable error leaves the outbox row
for another attempt later; a permanent one (the receiver says it will never accept) sends the
row to the dead letter and disables the channel. Error messages are stored and shown: they
must never contain a secret (a webhook URL is one), only what went wrong.

Kinds map to dotted paths in ``settings.ALERT_CHANNEL_TRANSPORTS``, imported lazily.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, NoReturn

from django.conf import settings
from django.utils.module_loading import import_string

from helpdesk.lib import http

logger = logging.getLogger(__name__)


class TransportError(Exception):
    """A delivery failed; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message[:500]
        self.permanent = permanent


@dataclass(frozen=True)
class Message:
    """Everything a transport needs about one notification, independent of the database."""

    idempotency_key: str
    kind: str  # firing, repeat, resolved, escalation
    name: str
    severity: str
    status: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    starts_at: datetime
    ends_at: datetime | None = None
    source: str = "builtin"
    generator_url: str = ""
    alert_id: int | None = None
    acknowledged_by: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return str(self.annotations.get("summary") or self.name)

    @property
    def description(self) -> str:
        return str(self.annotations.get("description") or "")

    @property
    def headline(self) -> str:
        """Return a one-line title such as ``[FIRING:critical] DatabaseDown: summary``."""
        state = {"repeat": "STILL FIRING", "escalation": "ESCALATION"}.get(
            self.kind, self.status.upper()
        )
        return f"[{state}:{self.severity}] {self.name}: {self.summary}"

    def as_json(self) -> dict[str, Any]:
        """Return the message as JSON-ready data (times in ISO 8601)."""
        data = asdict(self)
        data["starts_at"] = self.starts_at.isoformat()
        data["ends_at"] = self.ends_at.isoformat() if self.ends_at else None
        return data


class Transport:
    """Deliver messages to one configured channel."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def send(self, message: Message) -> None:
        """Deliver ``message``; raises TransportError on error, returns None on success."""
        raise NotImplementedError


class HttpTransport(Transport):
    """A transport that POSTs to an URL, with a few quick retries before giving up."""

    tries = 2
    budget_seconds = 15.0

    def raise_for_response(self, response: http.Response) -> NoReturn:
        """Raise the TransportError a non-2xx answer means (subclasses refine it)."""
        permanent = response.status in {401, 403, 404, 410}
        raise TransportError(f"received status {response.status}", permanent=permanent)

    def post(self, url: str, **kwargs: Any) -> http.Response:
        """POST with bounded retries; stops early on a permanent error."""
        start = time.monotonic()
        tries_left = self.tries
        while True:
            try:
                try:
                    response = http.post(
                        url, timeout=settings.ALERT_DELIVERY_TIMEOUT_SECONDS, **kwargs
                    )
                except http.HttpError as error:
                    raise TransportError(error.message, permanent=error.refused) from None
                if 200 <= response.status < 300:
                    return response
                self.raise_for_response(response)
            except TransportError as error:
                tries_left = 0 if error.permanent else tries_left - 1
                if tries_left <= 0 or time.monotonic() - start > self.budget_seconds:
                    raise


@cache
def transport_class(kind: str) -> type[Transport]:
    """Return the transport class registered for ``kind``; raises KeyError when unknown."""
    path = settings.ALERT_CHANNEL_TRANSPORTS[kind]
    cls: type[Transport] = import_string(path)
    return cls


def known_kinds() -> list[str]:
    """Return the channel kinds with a registered transport."""
    return sorted(settings.ALERT_CHANNEL_TRANSPORTS)
