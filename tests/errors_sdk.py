"""Envelopes made by the real Python ``sentry-sdk``, captured instead of sent, for tests that
post them to the ingestion endpoints with Django's test client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from helpdesk.monitoring.errors.models import Project


def dsn_of(project: Project) -> str:
    return project.dsn("http://testserver")


def sdk_envelopes(project: Project, act: Callable[[Any], None], **options: Any) -> list[bytes]:
    """Run ``act(scope)`` with a sentry-sdk client of ``project``; return the envelopes."""
    captured: list[bytes] = []

    class Capture(Transport):
        def capture_envelope(self, envelope: Envelope) -> None:
            captured.append(envelope.serialize())

    options.setdefault("default_integrations", False)
    client = sentry_sdk.Client(dsn_of(project), transport=Capture, **options)
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        act(scope)
    client.flush()
    return captured


def raise_and_capture(error: Exception) -> Callable[[Any], None]:
    """Return an action that raises ``error`` in a nested call and captures it."""

    def failing_helper() -> None:
        db_passphrase = "pp-" + "runtime-7731"  # a local the SDK's own scrubber lets through
        assert db_passphrase
        raise error

    def act(scope: Any) -> None:
        try:
            failing_helper()
        except Exception as caught:
            scope.capture_exception(caught)

    return act


def auth_header(project: Project) -> dict[str, str]:
    return {
        "HTTP_X_SENTRY_AUTH": f"Sentry sentry_version=7, sentry_client=test/1.0, "
        f"sentry_key={project.public_key}"
    }
