"""The app's own errors become events of the platform project without any SDK; the real
``sentry-sdk`` in another process reports to a running server."""

from __future__ import annotations

import json
import logging
import logging.config
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import transaction
from django.test import Client, override_settings

from helpdesk.monitoring.errors.models import ErrorEvent, ErrorIssue
from helpdesk.monitoring.errors.server import PLATFORM_SLUG
from tests.services import free_port, wait_until
from tests.web_server import helpdesk, migrate, serve, server_env

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(ROOT_URLCONF="tests.errors_urls", DEBUG_PROPAGATE_EXCEPTIONS=False)
def test_it_turns_an_unhandled_view_exception_into_a_platform_issue(alice: Any) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    for ticket in (41, 42):
        response = client.get(f"/fail/{ticket}/", HTTP_X_REQUEST_ID=f"req-{ticket}")
        assert response.status_code == 500
    issue = ErrorIssue.objects.get()
    assert issue.project.slug == PLATFORM_SLUG
    assert issue.event_count == 2
    assert issue.title.startswith("LedgerError: ledger row 41 is locked")
    assert issue.culprit == "tests.errors_urls in _charge"
    event = ErrorEvent.objects.filter(source="server").first()
    assert event is not None
    data = event.data
    assert data["tags"]["request_id"] in {"req-41", "req-42"}
    assert data["transaction"] == "/fail/<int:ticket_id>/"
    assert data["user"]["id"] and data["user"]["id"] != str(alice.pk)  # hashed by default
    assert data["release"] and data["environment"]
    assert "tk-secret-991" not in json.dumps(data)
    frames = data["exception"]["values"][-1]["stacktrace"]["frames"]
    assert [f["function"] for f in frames][-2:] == ["failing_view", "_charge"]
    # Only the app's own modules (helpdesk.*) are in-app; these test views are not.
    assert {f["in_app"] for f in frames if f["module"].startswith("django.")} == {False}


@override_settings(ROOT_URLCONF="tests.errors_urls")
def test_it_turns_error_records_with_exc_info_from_our_code_into_events() -> None:
    assert Client().get("/log-error/").status_code == 200
    issue = ErrorIssue.objects.get()
    assert issue.title.startswith("LedgerError")
    event = ErrorEvent.objects.get()
    assert event.data["logger"] == "helpdesk.tests.errors"
    assert event.data["logentry"]["formatted"] == "charging ticket 7 failed"


@override_settings(ROOT_URLCONF="tests.errors_urls")
def test_it_still_captures_error_records_after_logging_is_configured_again() -> None:
    # django.setup() run a second time (importing helpdesk.wsgi does) re-applies LOGGING; a
    # handler added to the root logger at start would be gone, one declared in LOGGING is not.
    logging.config.dictConfig(settings.LOGGING)
    assert Client().get("/log-error/").status_code == 200
    assert ErrorIssue.objects.get().title.startswith("LedgerError")


@override_settings(ROOT_URLCONF="tests.errors_urls", ERRORS_CAPTURE_SERVER=False)
def test_server_capture_can_be_switched_off() -> None:
    Client(raise_request_exception=False).get("/fail/1/")
    assert ErrorIssue.objects.count() == 0


def test_the_real_sentry_sdk_reports_to_a_running_server(tmp_path: Path) -> None:
    token = "errors-monitoring-token-0123456789abcdef"
    env = server_env(tmp_path / "data", MONITORING_API_TOKEN=token, WEB_CONCURRENCY="2")
    migrate(env)
    port = free_port(23500, 23999)
    base = f"http://127.0.0.1:{port}"
    dsn = helpdesk(env, "errors-project", "--base-url", base, timeout=120).strip()
    assert dsn.startswith("http://") and dsn.endswith(f"@127.0.0.1:{port}/1")
    script = textwrap.dedent(
        """
        import sys
        import sentry_sdk

        def before_send(event, hint):
            # An application's filter: the SDK drops the event and says so in a client report.
            return None if event.get("message") == "health check noise" else event

        sentry_sdk.init(
            dsn=sys.argv[1], release="shop@2.1.0", environment="staging", before_send=before_send
        )
        sentry_sdk.set_user({"id": "customer-17"})

        def apply_discount(order):
            return order["total"] / order["items"]

        try:
            apply_discount({"total": 10, "items": 0})
        except ZeroDivisionError as error:
            sentry_sdk.capture_exception(error)
        sentry_sdk.capture_message("inventory sync lagging 42 s")
        sentry_sdk.capture_message("health check noise")
        sentry_sdk.flush(timeout=10)
        """
    )
    with serve(env, port, stdout=tmp_path / "server.log"):
        subprocess.run([sys.executable, "-c", script, dsn], check=True, timeout=60)
        headers = {"Authorization": f"Bearer {token}"}

        def issues() -> list[dict[str, Any]]:
            answer = requests.get(
                f"{base}/api/v1/monitoring/errors/issues/", headers=headers, timeout=10
            )
            assert answer.status_code == 200, answer.text
            results: list[dict[str, Any]] = answer.json()["results"]
            return results if len(results) == 2 else []

        found = {issue["title"]: issue for issue in wait_until(issues, timeout=30)}
        crash = found["ZeroDivisionError: division by zero"]
        assert crash["releases"] == ["shop@2.1.0"]
        assert crash["environments"] == ["staging"]
        assert crash["user_count"] == 1
        assert "apply_discount" in crash["culprit"]
        assert "inventory sync lagging 42 s" in found
        detail = requests.get(
            f"{base}/api/v1/monitoring/errors/issues/{crash['id']}/", headers=headers, timeout=10
        ).json()
        frames = detail["latest_event"]["data"]["exception"]["values"][0]["stacktrace"]["frames"]
        assert frames[-1]["function"] == "apply_discount"
        # The dropped message arrived as the SDK's client report, counted by reason.
        wanted = 'errors_client_discarded_total{category="error",reason="before_send"} 1.0'
        wait_until(
            lambda: (
                wanted
                in requests.get(f"{base}/metrics", headers=headers, timeout=10).text.splitlines()
            ),
            timeout=30,
            message="the SDK's client report was not counted",
        )


@override_settings(ROOT_URLCONF="tests.errors_urls")
def test_it_stores_a_requests_queued_events_when_the_request_ends() -> None:
    # An exception raised inside a transaction waits for the end of its request; it must be
    # stored then, not left queued for whichever request captures an error next.
    with transaction.atomic():
        Client(raise_request_exception=False).get("/fail/1/")
        assert ErrorIssue.objects.count() == 1
    assert Client().get("/log-error/").status_code == 200
    assert ErrorIssue.objects.count() == 2
