"""Structured logging: real requests through the real middleware, formatter and files."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ecs_logging
import pytest
from django.conf import settings
from django.test import Client, override_settings

from helpdesk.accounts.models import Membership
from helpdesk.lib.redaction import Redactor
from helpdesk.monitoring.logging.config import build_logging_config
from helpdesk.monitoring.logging.formatters import (
    ConsoleFormatter,
    ECSFormatter,
    escape_control,
)
from tests.conftest import client_for
from tests.logging_urls import DSN

SERVICE = {
    "service.name": "helpdesk",
    "service.version": "0.1.0",
    "service.environment": "test",
}
METRICS_TOKEN = "metrics-token-0123456789abcdef"
REQUIRED = ("@timestamp", "log.level", "log.logger", "message", "ecs.version")


def get(event: dict[str, Any], path: str) -> Any:
    """Return the field at a dotted ECS path of a line's event (nested or dotted), or None."""
    if path in event:  # "log.level" and "ecs.version" stand dotted at the top of a line
        return event[path]
    node: Any = event
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@dataclass
class Captured:
    """Everything the logging config wrote: stdout (a buffer) and the files under log_dir."""

    stdout: io.StringIO
    log_dir: Path
    raw: io.StringIO = field(default_factory=io.StringIO)

    def text(self) -> str:
        # The .lock files hold the rotation state (binary), not log lines.
        logs = sorted(p for p in self.log_dir.glob("*.log*") if p.suffix != ".lock")
        files = "".join(p.read_text() for p in logs)
        return self.stdout.getvalue() + files

    def events(self, source: str = "stdout") -> list[dict[str, Any]]:
        text = self.stdout.getvalue() if source == "stdout" else (self.log_dir / source).read_text()
        return [json.loads(line) for line in text.splitlines()]

    def access(self) -> list[dict[str, Any]]:
        return [e for e in self.events() if get(e, "event.dataset") == "helpdesk.access"]


@pytest.fixture
def captured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    """Configure logging as production does (JSON, files), writing stdout into a buffer.

    A second handler with Elastic's plain formatter (no redaction) records the same events in
    ``raw``, so a redaction test can show the secrets really were there to be removed.
    """
    monkeypatch.setenv("METRICS_TOKEN", METRICS_TOKEN)
    out = Captured(stdout=io.StringIO(), log_dir=tmp_path / "log")
    config = build_logging_config(
        level="INFO",
        fmt="json",
        service=SERVICE,
        stream=out.stdout,
        files=True,
        log_dir=out.log_dir,
        max_bytes=1024 * 1024,
        backup_count=2,
    )
    config["formatters"]["raw"] = {"()": "ecs_logging.StdlibFormatter"}
    config["handlers"]["raw"] = {
        "class": "logging.StreamHandler",
        "stream": out.raw,
        "formatter": "raw",
        "filters": ["context"],
    }
    config["root"]["handlers"].append("raw")
    logging.config.dictConfig(config)
    try:
        yield out
    finally:
        logging.config.dictConfig(settings.LOGGING)


def test_it_writes_ecs_json_with_the_request_context(captured: Captured, bob: Any) -> None:
    response = client_for(bob).get("/api/v1/tickets/", HTTP_USER_AGENT="pytest-agent/1.0")
    assert response.status_code == 200
    lines = captured.stdout.getvalue().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    [access] = captured.access()
    for name in REQUIRED:
        assert get(access, name) is not None, name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access["@timestamp"])
    assert access["log.level"] == "info"
    assert get(access, "service.name") == "helpdesk"
    assert get(access, "service.version") == "0.1.0"
    assert get(access, "service.environment") == "test"
    assert isinstance(get(access, "process.pid"), int)
    assert get(access, "http.request.id") == response["X-Request-ID"]
    assert get(access, "http.request.method") == "GET"
    assert get(access, "url.path") == "/api/v1/tickets/"
    assert get(access, "http.response.status_code") == 200
    assert isinstance(get(access, "event.duration"), int)
    assert get(access, "event.duration") > 0
    assert get(access, "event.outcome") == "success"
    assert get(access, "user.id") == str(bob.pk)
    assert get(access, "client.ip") == "127.0.0.1"
    assert get(access, "user_agent.original") == "pytest-agent/1.0"
    assert get(access, "labels.organization") == bob.memberships.get().organization.slug
    assert get(access, "http.response.body.bytes") == len(response.content)
    assert access["message"] == "GET /api/v1/tickets/ 200"
    assert len(events) == len(lines)
    # The files hold the same access line (app.log), and error.log nothing.
    # (The fixtures' membership changes add security audit lines; only access lines here.)
    app_access = [
        e for e in captured.events("app.log") if get(e, "event.dataset") == "helpdesk.access"
    ]
    assert [get(e, "http.request.id") for e in app_access] == [get(access, "http.request.id")]
    assert not (captured.log_dir / "error.log").exists()


def test_it_labels_a_ticket_request_with_the_ticket_s_organization(
    captured: Captured, make_ticket: Any, alice: Any, org: Any, other_org: Any
) -> None:
    Membership.objects.create(user=alice, organization=other_org, role="admin")
    ticket = make_ticket()
    assert client_for(alice).get(f"/api/v1/tickets/{ticket.pk}/").status_code == 200
    [access] = captured.access()
    assert get(access, "labels.organization") == org.slug  # not other_org's: the ticket decides


def test_it_takes_a_safe_client_request_id_into_the_log(captured: Captured, db: None) -> None:
    Client().get("/api/v1/tickets/", HTTP_X_REQUEST_ID="edge-abc-123")
    [access] = captured.access()
    assert get(access, "http.request.id") == "edge-abc-123"
    assert get(access, "http.response.status_code") == 401
    assert get(access, "event.outcome") == "failure"
    assert get(access, "user.id") is None


@pytest.mark.urls("tests.logging_urls")
def test_it_adds_bound_fields_and_renders_dotted_extras_nested(
    captured: Captured, alice: Any
) -> None:
    response = client_for(alice).get("/test/chatty/")
    rid = response["X-Request-ID"]
    events = captured.events()
    login = next(e for e in events if e["message"] == "login failed")
    assert login["event"]["action"] == "authn_login_fail"
    assert login["event"]["category"] == ["authentication"]
    assert login["event"]["outcome"] == "failure"
    assert login["http"]["request"]["id"] == rid
    assert login["labels"] == {"ticket_id": 42, "organization": "acme"}
    assert login["url"]["path"] == "/test/chatty/"
    assert "user" not in login  # a plain Django view: nothing authenticated the bearer token
    assert login["event"]["dataset"] == "helpdesk.app"
    assert "event.action" not in login  # nested, not a dotted top-level key
    # The context ends with the request.
    logging.getLogger("helpdesk.tests").info("after the request")
    after = captured.events()[-1]
    assert "http" not in after
    assert "labels" not in after


@pytest.mark.urls("tests.logging_urls")
def test_it_never_reads_a_session_user_the_view_did_not_need(
    captured: Captured, alice: Any, django_assert_num_queries: Any
) -> None:
    client = Client()
    client.force_login(alice)
    with django_assert_num_queries(0):  # no session load, no user query for the log lines
        response = client.get("/test/chatty/")
    rid = response["X-Request-ID"]
    lines = [e for e in captured.events() if get(e, "http.request.id") == rid]
    assert len(lines) == 8  # the view's seven and the access line
    assert all("user" not in event for event in lines)


def test_it_names_the_session_user_of_a_django_view(
    captured: Captured, django_user_model: Any
) -> None:
    staff = django_user_model.objects.create_user("root", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    [access] = captured.access()
    assert get(access, "user.id") == str(staff.pk)


@pytest.mark.urls("tests.logging_urls")
def test_it_leaves_no_secret_in_stdout_or_files(captured: Captured, alice: Any) -> None:
    """A sweep of requests carrying a password, a bearer token, a cookie and ?token=."""
    from helpdesk.accounts.models import ApiToken

    _, bearer = ApiToken.issue(alice)
    secrets = {
        "password": "Tr0ub4dor-pw-9x7",
        "bearer": bearer,
        "session": "sess-1q2w3e4r5t6y7u8i",
        "csrf": "csrf-zxcvbnmasdfghjkl",
        "query_token": "qtok-0987654321poiuy",
        "query_password": "qpw-lkjhgfdsa12345",
        "query_key": "qkey-mnbvcxz0192837",
        "query_signature": "qsig-poiuytrewq5647",
        "dsn": "dsn-pa55word-xyz",
        "metrics": METRICS_TOKEN,
    }
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = secrets["session"]
    client.cookies["csrftoken"] = secrets["csrf"]
    query = (
        f"?token={secrets['query_token']}&password={secrets['query_password']}&page=2"
        f"&key={secrets['query_key']}&X-Amz-Signature={secrets['query_signature']}"
    )
    headers = {
        "HTTP_AUTHORIZATION": f"Bearer {bearer}",
        "HTTP_X_CSRFTOKEN": secrets["csrf"],
        "HTTP_X_METRICS": METRICS_TOKEN,
    }
    client.post(
        f"/test/chatty/{query}",
        {"username": "alice", "password": secrets["password"]},
        **headers,  # type: ignore[arg-type]
    )
    client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": secrets["password"]},
        content_type="application/json",
    )
    client.get(f"/api/v1/tickets/{query}", **headers)  # type: ignore[arg-type]
    client.get(f"/test/boom/{query}", **headers)  # type: ignore[arg-type]
    logging.getLogger("helpdesk.tests").error("config %s", {"METRICS_TOKEN": METRICS_TOKEN})

    raw = captured.raw.getvalue()
    ours = captured.text()
    assert ours.count("\n") >= 10
    for name, value in secrets.items():
        # Without redaction the value would be logged: the sweep really exercises it.
        assert value in raw, f"{name} never reached the logs"
        assert value not in ours, f"{name} leaked into the logs"
    assert DSN not in ours
    assert "[REDACTED]" in ours
    for line in ours.splitlines():
        json.loads(line)


@pytest.mark.urls("tests.logging_urls")
def test_it_logs_error_fields_for_an_exception(captured: Captured, db: None) -> None:
    response = Client(raise_request_exception=False).get("/test/boom/")
    assert response.status_code == 500
    errors = captured.events("error.log")
    [error] = [e for e in errors if get(e, "log.logger") == "django.request"]
    assert error["log.level"] == "error"
    assert error["error"]["type"] == "RuntimeError"
    assert error["error"]["message"].startswith("kaput while talking to postgres://helpdesk:")
    assert "[REDACTED]@db" in error["error"]["message"]
    assert "raise RuntimeError" in error["error"]["stack_trace"]
    assert (
        error["error"]["stack_trace"]
        .rstrip()
        .endswith(
            "RuntimeError: kaput while talking to postgres://helpdesk:[REDACTED]@db:5432/helpdesk"
        )
    )
    assert get(error, "http.request.id") == response["X-Request-ID"]
    assert get(error, "http.response.status_code") == 500
    assert "request" not in error  # Django's raw request object is not dumped
    [access] = captured.access()
    assert get(access, "http.response.status_code") == 500
    assert get(access, "http.request.id") == response["X-Request-ID"]


def test_it_keeps_a_newline_laden_user_agent_on_one_line(captured: Captured, db: None) -> None:
    agent = 'evil\r\n{"log.level":"error","message":"forged"}\x1b[31m\u2028\x00end'
    Client().get("/api/v1/tickets/", HTTP_USER_AGENT=agent)
    lines = captured.stdout.getvalue().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["user_agent"]["original"] == agent
    assert event["log.level"] == "info"
    assert not any(json.loads(line).get("message") == "forged" for line in lines)


def test_it_escapes_control_characters_in_the_console_format() -> None:
    record = logging.LogRecord(
        "helpdesk.x", logging.INFO, __file__, 1, "user %s", ("bob\nINFO forged line\x1b[2J",), None
    )
    line = ConsoleFormatter(service=SERVICE).format(record)
    assert "\n" not in line
    assert "\x1b" not in line
    assert "bob\\nINFO forged line\\x1b[2J" in line


def test_it_escapes_exactly_the_control_characters() -> None:
    """C0, DEL, C1 and the Unicode line/paragraph separators, nothing else."""
    for code in [*range(0x3000), 0xFEFF, 0x1F600]:
        char = chr(code)
        control = unicodedata.category(char) in ("Cc", "Zl", "Zp")
        for text in (f"a{char}b", f"\u00e9{char}"):
            assert (escape_control(text) != text) == control, hex(code)
    assert escape_control("GET /x 200") == "GET /x 200"
    assert escape_control("a\x7fb\x00") == "a\\x7fb\\x00"


def test_it_prefixes_stack_trace_lines_in_the_console_format() -> None:
    try:
        raise ValueError("bad\nINFO forged")
    except ValueError as error:
        record = logging.LogRecord(
            "helpdesk.x", logging.ERROR, __file__, 1, "failed", (), (ValueError, error, None)
        )
    text = ConsoleFormatter().format(record)
    first, *rest = text.split("\n")
    assert "failed" in first
    assert rest
    assert all(row.startswith("  | ") for row in rest)


def test_it_keeps_the_line_when_extras_clash() -> None:
    record = logging.LogRecord("helpdesk.x", logging.INFO, __file__, 1, "hi", (), None)
    record.__dict__.update({"user": "bob", "user.id": "7", "event.action": "x"})
    event = json.loads(ECSFormatter().format(record))
    assert event["message"] == "hi"
    assert event["user"] == {"id": "7"}
    assert event["labels"]["user"] == "bob"
    assert event["event"]["action"] == "x"


def test_it_caps_the_size_of_a_field() -> None:
    record = logging.LogRecord("helpdesk.x", logging.INFO, __file__, 1, "x" * 100_000, (), None)
    event = json.loads(ECSFormatter(max_field_chars=1000).format(record))
    assert len(event["message"]) < 1100
    assert event["message"].endswith("…[truncated, 100000 chars]")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("Token hdk_Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4"),
        ("GET /x?access_token=s3cr3t-v4lue&a=1", "s3cr3t-v4lue"),
        ("redis://:r3dis-pass@cache:6379/0", "r3dis-pass"),
        ("Cookie: sessionid=abc123def; csrftoken=zz99yy88", "abc123def"),
        ("Cookie: sessionid=abc123def; csrftoken=zz99yy88", "zz99yy88"),
        ("{'password': 'correct horse battery'}", "horse"),
        ('{"api_key": "k-123456"}', "k-123456"),
        ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        # Any name that is or ends in a secret word, not a fixed list.
        ("GET /x?key=k3y-v4lue-1&a=1", "k3y-v4lue-1"),
        ("GET /x?a=1&stripe.signing_key=sk-v4lue-2", "sk-v4lue-2"),
        ("X-Amz-Credential=AKIA-v4lue-3&X-Amz-Signature=s1g-v4lue-4", "AKIA-v4lue-3"),
        ("X-Amz-Credential=AKIA-v4lue-3&X-Amz-Signature=s1g-v4lue-4", "s1g-v4lue-4"),
        ("db_pwd: pwd-v4lue-5", "pwd-v4lue-5"),
        ('{"upload_session": "sess-v4lue-6", "sso_auth": "auth-v4lue-7"}', "sess-v4lue-6"),
        ('{"upload_session": "sess-v4lue-6", "sso_auth": "auth-v4lue-7"}', "auth-v4lue-7"),
    ],
)
def test_it_redacts_by_pattern(text: str, secret: str) -> None:
    cleaned = Redactor().text(text)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_it_redacts_by_key_name_in_nested_fields() -> None:
    event = {
        "http": {"request": {"headers": {"Authorization": "x", "X-CSRFToken": "y", "Accept": "*"}}},
        "labels": {"api_key": "z", "author": "bob", "key": "k", "webhook_signing_key": "w"},
        "password": "p",
        "user": {"id": "5"},
    }
    cleaned = Redactor().clean(event)
    headers = cleaned["http"]["request"]["headers"]
    assert headers["Authorization"] == headers["X-CSRFToken"] == "[REDACTED]"
    assert headers["Accept"] == "*"
    assert cleaned["labels"] == {
        "api_key": "[REDACTED]",
        "author": "bob",
        "key": "[REDACTED]",
        "webhook_signing_key": "[REDACTED]",
    }
    assert cleaned["password"] == "[REDACTED]"
    assert cleaned["user"] == {"id": "5"}


def test_it_leaves_out_probes_unless_asked(captured: Captured, db: None) -> None:
    Client().get("/health/live/")
    Client().get("/metrics")
    assert captured.access() == []
    with override_settings(ACCESS_LOG_PROBES=True):
        Client().get("/health/live/")
    assert [get(e, "url.path") for e in captured.access()] == ["/health/live/"]


def test_it_can_switch_the_access_log_off(captured: Captured, db: None) -> None:
    with override_settings(ACCESS_LOG=False):
        Client().get("/api/v1/tickets/")
    assert captured.access() == []


def test_it_matches_elastic_ecs_formatter_on_plain_records() -> None:
    """Our events are Elastic's events plus service fields: nothing standard is renamed."""
    record = logging.LogRecord(
        "helpdesk.x", logging.WARNING, __file__, 7, "hello %s", ("x",), None, func="handler"
    )
    record.__dict__.update(
        {
            "event.action": "authn_login_fail",
            "event.category": ["authentication"],
            "http": {"request": {"method": "POST"}},
            "labels.ticket_id": 42,
        }
    )
    try:
        raise KeyError("missing")
    except KeyError:
        record.exc_info = sys.exc_info()
    theirs = json.loads(ecs_logging.StdlibFormatter(exclude_fields=["log.original"]).format(record))
    ours = json.loads(ECSFormatter().format(record))
    # Elastic's stack trace is the frames only; ours is the whole traceback (with the
    # exception line and any chained causes).
    assert ours["error"].pop("stack_trace").endswith("KeyError: 'missing'\n")
    theirs["error"].pop("stack_trace")
    assert ours == theirs


def test_it_refuses_an_unknown_log_format(tmp_path: Path) -> None:
    from tests.test_settings import run_check

    result = run_check(tmp_path, LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be one of json, console" in result.stderr


def test_it_defaults_to_json_on_stdout_without_files_in_production(tmp_path: Path) -> None:
    import os
    import secrets
    import subprocess
    import sys

    env = {
        **os.environ,
        "HELPDESK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "example.org",
        "HELPDESK_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    }
    for name in ("LOG_FORMAT", "LOG_FILES", "DEBUG"):
        env.pop(name, None)
    code = (
        "import django, logging; django.setup(); from django.conf import settings; "
        "print(settings.LOG_FORMAT, settings.LOG_FILES, sorted(settings.LOGGING['handlers'])); "
        "logging.getLogger('helpdesk.x').warning('hello\\nworld')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    first, line = result.stdout.splitlines()
    # stdout is the only output; error_events stores ERROR records as error events.
    assert first == "json False ['error_events', 'stdout']"
    event = json.loads(line)
    assert event["message"] == "hello\nworld"
    assert event["service"]["environment"] == "production"


def test_it_labels_lines_of_a_background_job(captured: Captured) -> None:
    from helpdesk.lib import request_context

    with request_context.job_context("evaluate_alerts", rule="disk"):
        logging.getLogger("helpdesk.jobs").info("evaluated")
    logging.getLogger("helpdesk.jobs").info("outside")
    inside, outside = captured.events()
    assert inside["labels"]["job"] == "evaluate_alerts"
    assert inside["labels"]["rule"] == "disk"
    assert len(inside["labels"]["run_id"]) == 32
    assert "http" not in inside
    assert "labels" not in outside


def test_it_keeps_the_fields_of_records_with_different_layouts() -> None:
    """The formatter remembers per record layout which field is what: layouts never mix."""
    formatter = ECSFormatter(service=SERVICE)
    for index in range(300):  # more layouts than the formatter remembers
        record = logging.LogRecord("helpdesk.x", logging.INFO, __file__, 1, "hi", (), None)
        record.__dict__[f"labels.k{index}"] = index
        record.__dict__["url.path"] = None if index % 2 else f"/p/{index}?token=abcdef"
        event = json.loads(formatter.format(record))
        assert event["labels"] == {f"k{index}": index}
        if index % 2:
            assert "url" not in event
        else:
            assert event["url"]["path"] == f"/p/{index}?token=[REDACTED]"


def test_it_trusts_ecs_category_and_type_lists_but_caps_them() -> None:
    record = logging.LogRecord("helpdesk.x", logging.INFO, __file__, 1, "hi", (), None)
    record.__dict__.update(
        {
            "event.category": ["web"],
            "event.type": ["access", "x" * 1000],
            "event.action": ["token=abcdef123"],  # not a trusted field: scanned
        }
    )
    event = json.loads(ECSFormatter(max_field_chars=500).format(record))
    assert event["event"]["category"] == ["web"]
    assert event["event"]["type"][0] == "access"
    assert event["event"]["type"][1].endswith("…[truncated, 1000 chars]")
    assert event["event"]["action"] == ["token=[REDACTED]"]


@pytest.mark.parametrize(
    "name",
    [
        *("key", "api_key", "apikey", "x-api-key", "token", "access_token", "csrftoken"),
        *("secret", "client_secret", "password", "passwd", "passphrase", "pwd", "db_pwd"),
        *("signature", "x-amz-signature", "auth", "oauth", "session", "sessionid"),
        *("session_id", "credential", "credentials", "aws.credential"),
        "to\u212aen",  # KELVIN SIGN: case-insensitive matching takes it for "k"
    ],
)
def test_it_never_skips_the_patterns_for_a_secret_parameter(name: str) -> None:
    """The cheap pre-check in front of the regex must let every parameter name through."""
    for text in (f"{name}=s3cr3t-value", f"x {name}: s3cr3t-value", f"a=1&{name.upper()}=s3cr3t"):
        cleaned = Redactor().text(text)
        assert "s3cr3t" not in cleaned, text
        assert "[REDACTED]" in cleaned


def test_it_leaves_text_without_a_secret_as_it_is() -> None:
    redactor = Redactor(literal_secrets=["literal-secret-1"])
    for text in ("page=2&sort=-created", "GET /api/v1/tickets/ 200", "Mozilla/5.0 (X11)"):
        assert redactor.text(text) == text
    assert redactor.text("page=2 literal-secret-1") == "page=2 [REDACTED]"
    assert redactor.text("postgres://app:pw-123@db/x") == "postgres://app:[REDACTED]@db/x"


def test_it_writes_access_lines_through_the_record_factory(captured: Captured, db: None) -> None:
    """A record factory (OpenTelemetry's, say) sees the access line like any other."""
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.__dict__["trace.id"] = "0af7651916cd43dd8448eb211c80319c"
        return record

    logging.setLogRecordFactory(factory)
    try:
        Client().get("/api/v1/tickets/?page=2")
    finally:
        logging.setLogRecordFactory(previous)
    [access] = captured.access()
    assert get(access, "trace.id") == "0af7651916cd43dd8448eb211c80319c"
    assert get(access, "url.query") == "page=2"
    assert get(access, "event.category") == ["web"]
    assert get(access, "log.origin.function") == "access_log"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # A plain layout: nested by the layout's precomputed tree.
        (
            {"http.request.id": "r1", "http.request.method": "GET", "user.id": "7"},
            {"http": {"request": {"id": "r1", "method": "GET"}}, "user": {"id": "7"}},
        ),
        # The same names with a value left out, or given as a dict.
        (
            {"http.request.id": "r1", "http.request.method": None, "user.id": "7"},
            {"http": {"request": {"id": "r1"}}, "user": {"id": "7"}},
        ),
        (
            {"http.request.id": "r1", "http.request.method": "GET", "user": {"id": "7"}},
            {"http": {"request": {"id": "r1", "method": "GET"}}, "user": {"id": "7"}},
        ),
        # Fields that extend standard objects (service.*, log.*) merge into them.
        (
            {"service.node.name": "web-1", "log.origin.file.line": 3},
            {"service": {"name": "helpdesk", "node": {"name": "web-1"}}},
        ),
        # Clashing fields keep the plain value under labels.
        ({"user": "bob", "user.id": "7"}, {"user": {"id": "7"}, "labels": {"user": "bob"}}),
    ],
)
def test_it_nests_dotted_fields_the_same_on_every_line(
    extra: dict[str, Any], expected: dict[str, Any]
) -> None:
    formatter = ECSFormatter(service={"service.name": "helpdesk"})
    lines = []
    for _ in range(3):  # the first line of a layout works out its tree, later lines use it
        record = logging.LogRecord("helpdesk.x", logging.INFO, __file__, 1, "hi", (), None)
        record.__dict__.update(extra)
        lines.append(json.loads(formatter.format(record)))
    for line in lines:
        line.pop("@timestamp")
    assert lines[0] == lines[1] == lines[2]
    event = lines[0]
    for key, value in expected.items():
        assert event[key] == value
    assert event["log"]["logger"] == "helpdesk.x"
    assert event["log"]["origin"]["file"]["line"] == extra.get("log.origin.file.line", 1)


def _record(extra: dict[str, Any], msg: str = "GET %s %s", args: tuple[Any, ...] = ()) -> Any:
    record = logging.LogRecord("helpdesk.access", logging.INFO, __file__, 9, msg, args, None)
    record.__dict__.update(extra)
    return record


ACCESS_FIELDS: dict[str, Any] = {
    "event.kind": "event",
    "event.category": ["web"],
    "event.type": ["access"],
    "event.outcome": "success",
    "event.duration": 1_234_567,
    "http.response.status_code": 200,
    "http.response.body.bytes": 5120,
    "http.version": "1.1",
    "url.query": "page=2",
    "http.request.id": "3fdc2fc0e35244269b6d058ca18fae1c",
    "http.request.method": "GET",
    "url.path": "/api/v1/tickets/",
    "client.ip": "203.0.113.7",
    "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "user.id": "42",
    "event.dataset": "helpdesk.access",
    "labels": {"organization": "acme", "ticket_id": 7},
}


@pytest.mark.parametrize(
    "extra",
    [
        ACCESS_FIELDS,
        {**ACCESS_FIELDS, "url.query": "page=2&token=qtok-12345678"},
        {**ACCESS_FIELDS, "user_agent.original": "curl Bearer abcdefghijk"},
        {**ACCESS_FIELDS, "labels": {"organization": "acme", "session_key": "s-123456789"}},
        {**ACCESS_FIELDS, "labels": {"organization": None}},
        {**ACCESS_FIELDS, "labels": {}},
        {**ACCESS_FIELDS, "labels": {"nested": {"a": 1}}},
        {**ACCESS_FIELDS, "user": {"id": "7" * 300}},
        {**ACCESS_FIELDS, "url.path": "/caf\u00e9/\u2028"},
        {**ACCESS_FIELDS, "http.request.id": "x" * 300},
        {**ACCESS_FIELDS, "url.path": "/p" + "a" * 20_000},
        {**ACCESS_FIELDS, "event.duration": 2**70},
        {**ACCESS_FIELDS, "url.query": None},
        {**ACCESS_FIELDS, "api_token": "tok-abcdef123456", "password": 12},
        {**ACCESS_FIELDS, "service.node.name": "web-1"},
        {"user": "bob", "user.id": "7"},
        {"event.action": ["token=abcdef123"], "ticket": object()},
        {"error": {"type": "ValueError"}, "labels.team": "a{b}"},
        {"quote'\"\\name": "v\x1b[31m", "labels.x": "y\nforged=1", "event.action": "login"},
        {},
    ],
)
def test_it_writes_every_kind_of_field_on_one_line(extra: dict[str, Any]) -> None:
    """Labels, secrets, non-ASCII, huge numbers, clashes, objects, odd names: one valid line."""
    formatter = ECSFormatter(service=SERVICE, max_field_chars=4096)
    console = ConsoleFormatter(service=SERVICE, max_field_chars=4096)
    record = _record(extra, args=("/x", 200))
    line = formatter.format(record)
    assert "\n" not in line
    assert line.isascii()
    event = json.loads(line)
    assert event["message"] == "GET /x 200"
    assert event["service"]["name"] == "helpdesk"
    for secret in ("qtok-12345678", "abcdefghijk", "s-123456789", "tok-abcdef123456"):
        assert secret not in line
    readable = console.format(record)
    assert "\n" not in readable
    assert readable.split()[2:5] == ["helpdesk.access", "GET", "/x"]


def test_it_puts_a_field_added_between_two_handlers_on_the_second_line() -> None:
    console = ConsoleFormatter(service=SERVICE)
    formatter = ECSFormatter(service=SERVICE)
    record = _record(ACCESS_FIELDS, args=("/x", 200))
    assert "ticket.id" not in console.format(record)
    record.__dict__["ticket.id"] = "T-9"  # a filter on the second handler adds a field
    assert json.loads(formatter.format(record))["ticket"] == {"id": "T-9"}
