"""Post alerts to a Slack incoming webhook as one coloured attachment.

Config: ``{"url": "https://hooks.slack.com/services/…"}``. The URL is a secret: it never
appears in errors or logs.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from helpdesk.lib import http
from helpdesk.monitoring.alerting.transports import HttpTransport, Message, TransportError

logger = logging.getLogger(__name__)

# The spec's colours by severity; a resolved alert is green whatever its severity.
COLORS = {"info": "#36a64f", "warning": "#ff9500", "error": "#ff0000", "critical": "#8b0000"}
RESOLVED_COLOR = "#2eb886"

# Answers Slack documents as "this webhook will never work again".
_PERMANENT_BODIES = {b"invalid_token", b"channel_not_found", b"channel_is_archived", b"no_service"}


def payload(message: Message) -> dict[str, Any]:
    """Return the incoming-webhook JSON for ``message``."""
    color = RESOLVED_COLOR if message.status == "resolved" else COLORS.get(message.severity)
    fields = [
        {"title": "Severity", "value": message.severity, "short": True},
        {"title": "Source", "value": message.source, "short": True},
    ]
    for name, value in sorted(message.labels.items()):
        if name not in {"alertname", "severity"}:
            fields.append({"title": name, "value": str(value), "short": True})
    if message.acknowledged_by:
        fields.append({"title": "Acknowledged by", "value": message.acknowledged_by})
    attachment: dict[str, Any] = {
        "color": color or COLORS["warning"],
        "fallback": message.headline,
        "title": message.headline,
        "text": message.description,
        "fields": fields,
        "footer": f"helpdesk alert {message.idempotency_key}",
        "ts": int((message.ends_at or message.starts_at).timestamp()),
    }
    if message.generator_url.startswith(("http://", "https://")):
        attachment["title_link"] = message.generator_url
    return {"text": message.headline, "attachments": [attachment]}


class Slack(HttpTransport):
    """Slack incoming webhook transport."""

    def raise_for_response(self, response: http.Response) -> NoReturn:
        body = response.body.strip()
        permanent = response.status in {403, 404, 410} or (
            response.status == 400 and body in _PERMANENT_BODIES
        )
        detail = body.decode("ascii", "replace")[:60] if body in _PERMANENT_BODIES else ""
        raise TransportError(
            f"Slack answered {response.status} {detail}".strip(), permanent=permanent
        )

    def send(self, message: Message) -> None:
        url = self.config.get("url", "")
        if not url:
            raise TransportError("no webhook URL configured", permanent=True)
        self.post(url, json=payload(message), headers={"Idempotency-Key": message.idempotency_key})
