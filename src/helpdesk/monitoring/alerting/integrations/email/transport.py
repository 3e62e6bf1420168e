"""Send alerts by email with Django's configured backend (EMAIL_* settings).

Config: ``{"to": ["ops@example.org", …]}``. The Message-ID is derived from the idempotency
key, so a redelivered message is recognisably the same one (mail clients thread or drop it).
"""

from __future__ import annotations

import hashlib
import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from helpdesk.monitoring.alerting.transports import Message, Transport, TransportError

logger = logging.getLogger(__name__)


def body(message: Message) -> str:
    """Return the plain-text body of the alert email."""
    lines = [
        message.headline,
        "",
        f"Status:    {message.status}",
        f"Severity:  {message.severity}",
        f"Started:   {message.starts_at.isoformat()}",
    ]
    if message.ends_at:
        lines.append(f"Resolved:  {message.ends_at.isoformat()}")
    if message.acknowledged_by:
        lines.append(f"Acknowledged by: {message.acknowledged_by}")
    if message.description:
        lines += ["", message.description]
    if message.labels:
        lines += ["", "Labels:"] + [f"  {k} = {v}" for k, v in sorted(message.labels.items())]
    if message.generator_url:
        lines += ["", f"Source: {message.generator_url}"]
    return "\n".join(lines) + "\n"


class Email(Transport):
    """Email transport."""

    def send(self, message: Message) -> None:
        recipients = [str(address) for address in self.config.get("to", []) if address]
        if not recipients:
            raise TransportError("no recipients configured", permanent=True)
        digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
        email = EmailMessage(
            subject=f"[ALERT] {message.headline}"[:200],
            body=body(message),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
            headers={
                "Message-ID": f"<{digest}@helpdesk.alerts>",
                "X-Helpdesk-Idempotency-Key": message.idempotency_key,
            },
            connection=get_connection(timeout=settings.ALERT_DELIVERY_TIMEOUT_SECONDS),
        )
        try:
            email.send(fail_silently=False)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPAuthenticationError) as error:
            raise TransportError(f"SMTP refused: {type(error).__name__}", permanent=True) from None
        except smtplib.SMTPResponseException as error:
            # 5xx is a permanent refusal, 4xx a temporary one (RFC 5321).
            raise TransportError(
                f"SMTP answered {error.smtp_code}", permanent=500 <= error.smtp_code < 600
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise TransportError(f"SMTP failed: {type(error).__name__}") from None
