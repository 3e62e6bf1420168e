"""POST alerts as JSON to any URL, signed so the receiver can trust them.

Config: ``{"url": "https://…", "secret": "…"}``. Headers sent:

- ``X-Helpdesk-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``: the
  receiver recomputes it over the raw body and rejects old timestamps (replay).
- ``Idempotency-Key``: the same for every redelivery of one (alert, state, channel).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from helpdesk.monitoring.alerting.transports import HttpTransport, Message, TransportError

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Helpdesk-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, now: float, tolerance: float = 300) -> bool:
    """Return True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` s."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Webhook(HttpTransport):
    """Signed JSON webhook transport."""

    def send(self, message: Message) -> None:
        url = self.config.get("url", "")
        if not url:
            raise TransportError("no webhook URL configured", permanent=True)
        body = json.dumps(
            {"version": "1", **message.as_json()}, separators=(",", ":"), sort_keys=True
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key}
        secret = self.config.get("secret", "")
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
        self.post(url, body=body, headers=headers)
