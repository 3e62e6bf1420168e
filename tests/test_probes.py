"""Synthetic probes: the journey against the real app, their traffic left out of user metrics,
failures (app down, slow, 500, login broken) named by phase, and ProbeFailing reaching the alert
center once per incident."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.management import call_command
from prometheus_client import REGISTRY

from helpdesk.lib.synthetic import token
from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator
from helpdesk.monitoring.alerting.models import Alert, Channel, Notification
from helpdesk.monitoring.alerting.rules import default_rules
from helpdesk.monitoring.probes import runner
from helpdesk.monitoring.probes.collector import ProbeCollector
from helpdesk.monitoring.probes.models import ProbeRun
from tests.services import free_port

LOGIN_PAGE = b'<form><input name="username"><input name="password" type="password"></form>'


HEALTHY: dict[str, tuple[int, bytes, float]] = {
    "/health/ready": (200, b"{}", 0.0),
    "/admin/login/": (200, LOGIN_PAGE, 0.0),
    "/api/v1/auth/token/": (200, b'{"token": "t"}', 0.0),
    "/api/v1/tickets/": (200, b'{"results": [{"id": 7}]}', 0.0),
    "/api/v1/tickets/7/": (200, b'{"id": 7}', 0.0),
}


class FakeApp:
    """A stand-in for the app whose answers the test sets: path -> (status, body, delay)."""

    def __init__(self) -> None:
        self.routes = dict(HEALTHY)
        self.headers: list[str] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                app.headers.append(self.headers.get("X-Synthetic-Probe", ""))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, body, delay = app.routes.get(self.path, (404, b"", 0.0))
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port(24600, 24699)), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeApp:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeApp]:
    with FakeApp() as app:
        settings.PROBE_BASE_URL = app.url
        settings.PROBE_TIMEOUT_SECONDS = 0.5
        # A password per test: the runner never retries one the app refused.
        settings.PROBE_PASSWORD = f"probe-password-{uuid.uuid4().hex}"
        yield app


def test_it_passes_every_probe_against_a_healthy_app(fake: FakeApp) -> None:
    for name in runner.PROBES:
        result = runner.run(name, fake.url, 0.5)
        assert result.success, (name, result.error)
    assert list(runner.run("journey", fake.url, 0.5).phases) == [
        "token",
        "ticket_list",
        "ticket_detail",
    ]
    assert set(fake.headers) == {token()}  # every request is marked as the probe's


FAILURES = [
    # probe, path, its answer (status, body, delay), the failing phase, the reason
    ("ready", "/health/ready", (500, b"boom", 0.0), "ready", "status 500"),
    ("ready", "/health/ready", (200, b"{}", 2.0), "ready", "timed out"),
    ("login", "/admin/login/", (200, b"<p>maintenance</p>", 0.0), "login_page", "no login form"),
    ("journey", "/api/v1/auth/token/", (400, b"{}", 0.0), "token", "status 400"),
    ("journey", "/api/v1/tickets/", (500, b"secret stack trace", 0.0), "ticket_list", "status 500"),
]


@pytest.mark.parametrize("case", FAILURES, ids=[f"{c[0]}-{c[4]}" for c in FAILURES])
def test_it_names_the_failing_phase(fake: FakeApp, case: tuple[Any, ...]) -> None:
    probe, path, answer, phase, error = case
    fake.routes[path] = answer
    result = runner.run(probe, fake.url, 0.5)
    assert (result.success, result.failed_phase) == (False, phase)
    assert error in result.error
    assert "secret" not in result.error


def test_it_does_not_retry_a_refused_password(fake: FakeApp, settings: Any) -> None:
    settings.PROBE_PASSWORD = "a-password-the-app-refuses"
    fake.routes["/api/v1/auth/token/"] = (400, b"{}", 0.0)
    calls = len(fake.headers)
    assert runner.run("journey", fake.url, 0.5).error == "status 400"
    again = runner.run("journey", fake.url, 0.5)
    assert (again.failed_phase, len(fake.headers)) == ("token", calls + 1)  # no second login
    assert "probe-account" in again.error
    settings.PROBE_PASSWORD = "a-new-password"  # a new password is tried
    fake.routes["/api/v1/auth/token/"] = HEALTHY["/api/v1/auth/token/"]
    assert runner.run("journey", fake.url, 0.5).success


def test_it_fails_when_the_app_is_down() -> None:
    result = runner.run("ready", f"http://127.0.0.1:{free_port(24700, 24799)}", 0.5)
    assert not result.success and result.failed_phase == "ready"


@pytest.mark.django_db
def test_it_raises_probe_failing_once_per_incident(fake: FakeApp, settings: Any) -> None:
    Channel.objects.create(name="ops", kind="webhook", config={"url": "http://127.0.0.1:9/"})
    clock = [time.time()]
    evaluator = Evaluator(
        [r for r in default_rules() if r.name == "ProbeFailing"],
        DatabaseSink(),
        clock=lambda: clock[0],
    )

    def turn() -> None:
        runner.run_configured()
        clock[0] += 30
        evaluator.evaluate()

    turn()
    fake.routes["/health/ready"] = (503, b"{}", 0.0)  # the app goes down: every probe fails
    fake.routes["/admin/login/"] = (502, b"", 0.0)
    fake.routes["/api/v1/auth/token/"] = (502, b"", 0.0)
    for _ in range(6):
        turn()
    [alert] = Alert.objects.filter(name="ProbeFailing")
    assert alert.status == "firing"
    assert alert.labels["signal"] == "app"
    assert "ready (" in alert.annotations["description"]
    assert "journey (" in alert.annotations["description"]
    assert Notification.objects.filter(alert=alert, kind="firing").count() == 1
    # Two of three failures are not an incident yet: back up, then down for two runs only.
    fake.routes.update(HEALTHY)
    for _ in range(3):
        turn()
    assert Alert.objects.get().status == "resolved"
    fake.routes["/health/ready"] = (500, b"", 0.0)
    turn()
    turn()
    assert Alert.objects.count() == 1


@pytest.mark.django_db
def test_it_serves_the_latest_runs_as_metrics(fake: FakeApp) -> None:
    fake.routes["/api/v1/tickets/"] = (500, b"", 0.0)
    runner.run_configured()
    runner.run_configured()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in ProbeCollector().collect()
        for s in family.samples
    }
    assert samples[("probe_success", (("probe", "ready"),))] == 1.0
    assert samples[("probe_success", (("probe", "journey"),))] == 0.0
    assert samples[("helpdesk_probe_consecutive_failures", (("probe", "journey"),))] == 2.0
    assert ("probe_duration_seconds", (("phase", "ticket_list"), ("probe", "journey"))) in samples
    assert ProbeRun.objects.count() == 6


def _requests(route: str) -> float:
    value = REGISTRY.get_sample_value(
        "http_server_request_duration_seconds_count",
        {"http_request_method": "GET", "http_route": route, "http_response_status_code": "200"},
    )
    return value or 0.0


@pytest.mark.django_db(transaction=True)
def test_it_runs_the_journey_against_the_app_and_leaves_user_metrics_alone(
    live_server: Any, settings: Any
) -> None:
    settings.PROBE_PASSWORD = "a-long-probe-password-0123"
    call_command("probe_account")
    before = _requests("api/v1/tickets/")
    for name in ("login", "journey"):
        result = runner.run(name, live_server.url, 5.0)
        assert result.success, (name, result.failed_phase, result.error)
    # The probe's ticket list is not a user's request.
    assert _requests("api/v1/tickets/") == before
