"""Sentry-compatible ingestion: envelopes and events from the real sentry-sdk, auth, encodings,
limits, CORS, rate limits, privacy, sampling and issue status transitions."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from prometheus_client import REGISTRY

from helpdesk.monitoring.errors import ingest
from helpdesk.monitoring.errors.models import ErrorEvent, ErrorIssue, IssueHour, Project, Status
from tests.errors_sdk import auth_header, raise_and_capture, sdk_envelopes

pytestmark = pytest.mark.django_db


@pytest.fixture
def project() -> Project:
    return Project.objects.create(name="Web", slug="web")


def post_envelope(project: Project, body: bytes, *, query: str = "", **headers: Any) -> Any:
    url = f"/api/{project.pk}/envelope/{query}"
    return Client().post(url, body, content_type="application/x-sentry-envelope", **headers)


def send_error(project: Project, error: Exception, **options: Any) -> Any:
    (envelope,) = sdk_envelopes(project, raise_and_capture(error), **options)
    return post_envelope(project, envelope, **auth_header(project))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_it_turns_a_sentry_sdk_envelope_into_an_issue(project: Project) -> None:
    before = metric("errors_events_total", project="web", level="error", source="sdk")
    response = send_error(project, ValueError("Ticket 42 not found"), release="1.0")
    assert response.status_code == 200, response.content
    issue = ErrorIssue.objects.get()
    assert issue.title == "ValueError: Ticket 42 not found"
    assert issue.event_count == 1
    assert issue.releases == ["1.0"]
    assert "failing_helper" in issue.culprit
    event = ErrorEvent.objects.get()
    assert response.json() == {"id": event.event_id}
    assert metric("errors_events_total", project="web", level="error", source="sdk") == before + 1


def test_it_groups_the_same_error_with_other_numbers(project: Project) -> None:
    send_error(project, ValueError("Ticket 42 not found"))
    send_error(project, ValueError("Ticket 97 not found"))
    send_error(project, KeyError("other"))
    assert sorted(ErrorIssue.objects.values_list("event_count", flat=True)) == [1, 2]


def test_it_accepts_the_store_endpoint_and_the_key_in_the_query(project: Project) -> None:
    event = {"message": "Payment provider timed out after 30 s", "level": "warning"}
    response = Client().post(
        f"/api/{project.pk}/store/?sentry_key={project.public_key}&sentry_version=7",
        json.dumps(event),
        content_type="text/plain;charset=UTF-8",
    )
    assert response.status_code == 200, response.content
    issue = ErrorIssue.objects.get()
    assert (issue.title, issue.level) == ("Payment provider timed out after 30 s", "warning")


def test_it_takes_the_key_from_the_envelope_header_dsn(project: Project) -> None:
    (envelope,) = sdk_envelopes(project, lambda scope: scope.capture_message("hello"))
    head, rest = envelope.split(b"\n", 1)
    header = json.loads(head)
    header["dsn"] = project.dsn("http://testserver")
    response = post_envelope(project, json.dumps(header).encode() + b"\n" + rest)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"HTTP_X_SENTRY_AUTH": "Sentry sentry_key=" + "0" * 32}, 403)],
)
def test_it_refuses_missing_and_wrong_keys(
    project: Project, headers: dict[str, str], status: int
) -> None:
    body = b'{}\n{"type":"event"}\n{"message":"x"}\n'
    response = post_envelope(project, body, **headers)
    assert response.status_code == status
    assert ErrorIssue.objects.count() == 0


def test_it_refuses_an_unknown_project(project: Project) -> None:
    response = Client().post(
        "/api/999999/envelope/", b"{}", content_type="text/plain", **auth_header(project)
    )
    assert response.status_code == 403


def test_a_rotated_key_stops_working_at_once(project: Project) -> None:
    old = auth_header(project)
    project.rotate_key()
    response = post_envelope(project, b'{}\n{"type":"event"}\n{"message":"x"}\n', **old)
    assert response.status_code == 403


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_it_reads_compressed_bodies(project: Project, encoding: str) -> None:
    (envelope,) = sdk_envelopes(project, raise_and_capture(RuntimeError("boom")))
    if encoding == "gzip":
        body = gzip.compress(envelope)
    elif encoding == "deflate":
        body = zlib.compress(envelope)
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = compressor.compress(envelope) + compressor.flush()
        encoding = "deflate"
    response = post_envelope(project, body, HTTP_CONTENT_ENCODING=encoding, **auth_header(project))
    assert response.status_code == 200, response.content
    assert ErrorIssue.objects.count() == 1


@override_settings(ERRORS_MAX_DECOMPRESSED_BYTES=64 * 1024)
def test_it_caps_a_gzip_bomb(project: Project) -> None:
    bomb = gzip.compress(b"{}\n" + b" " * (50 * 1024 * 1024))
    assert len(bomb) < 100 * 1024
    response = post_envelope(project, bomb, HTTP_CONTENT_ENCODING="gzip", **auth_header(project))
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_it_refuses_an_oversized_body_with_413(project: Project) -> None:
    response = post_envelope(project, b"x" * (2 * 1024 * 1024), **auth_header(project))
    assert response.status_code == 413


@override_settings(ERRORS_MAX_EVENT_BYTES=2048)
def test_it_refuses_an_event_over_the_size_cap(project: Project) -> None:
    body = json.dumps({"message": "big", "extra": {"blob": ["y" * 1000] * 8}})
    response = post_envelope(
        project, b'{}\n{"type":"event"}\n' + body.encode() + b"\n", **auth_header(project)
    )
    assert response.status_code == 413
    assert ErrorIssue.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}\nnot json\n",
        b'{}\n{"type":"event"}\n[1, 2]\n',
        b'{}\n{"type":"event"}\n{"message": "x"\n',
        b'{}\n{"type":"event","length":500}\n{"message":"x"}\n',
        b'{}\n{"type":"event","length":-1}\n{}\n',
        b'{}\n{"length":2}\n{}\n',
        b'{}\n{"type":"event"}\n' + b"[" * 100_000 + b"\n",
        b"\xff\xfe\x00garbage",
        b'{}\n{"type":"event"}\n{"message":"ok"}\n{"type":"event"}\n{"broken"\n',
    ],
)
def test_it_answers_malformed_envelopes_with_400_and_stores_nothing(
    project: Project, body: bytes
) -> None:
    response = post_envelope(project, body, **auth_header(project))
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert ErrorIssue.objects.count() == 0


@pytest.mark.parametrize(
    "event",
    [
        {"exception": "boom"},
        {"exception": {"values": [{"type": 5, "value": ["x"], "stacktrace": {"frames": "no"}}]}},
        {"exception": {"values": [{"stacktrace": {"frames": [{"function": 3, "filename": 4}]}}]}},
        {"exception": {"values": [{"type": "E", "stack": "at x (y:1:2)\n@@@\nfoo@"}]}},
        {"user": "alice", "request": "GET /", "level": 7, "timestamp": "yesterday"},
        {"fingerprint": [1, 2], "release": {"v": 1}, "environment": ["prod"], "message": None},
        {"logentry": {"formatted": {"a": 1}}, "tags": [["k", "v"]], "timestamp": 1e30},
    ],
)
def test_it_survives_hostile_event_shapes(project: Project, event: dict[str, Any]) -> None:
    body = b'{}\n{"type":"event"}\n' + json.dumps(event).encode() + b"\n"
    response = post_envelope(project, body, **auth_header(project))
    assert response.status_code == 200, response.content
    assert ErrorIssue.objects.count() == 1


def test_it_accepts_and_counts_other_item_types(project: Project) -> None:
    before = metric("errors_items_dropped_total", type="session")
    body = (
        b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n'
        b'{"type":"client_report"}\n{"discarded_events":[]}\n'
        b'{"type":"session"}\n{"sid":"x","status":"ok"}\n'
        b'{"type":"attachment","length":5,"filename":"a.txt"}\nhello\n'
        b'{"type":"transaction"}\n{"type":"transaction","spans":[]}\n'
    )
    response = post_envelope(project, body, **auth_header(project))
    assert response.status_code == 200, response.content
    assert ErrorIssue.objects.count() == 0
    assert metric("errors_items_dropped_total", type="session") == before + 1


def test_it_sums_client_reports_by_reason_and_category(project: Project) -> None:
    def discarded(reason: str, category: str) -> float:
        return metric("errors_client_discarded_total", reason=reason, category=category)

    before = {
        key: discarded(*key)
        for key in [
            ("queue_overflow", "error"),
            ("before_send", "error"),
            ("other", "other"),
        ]
    }
    invalid = metric("errors_items_dropped_total", type="client_report_invalid")
    report = {
        "timestamp": "2026-12-05T03:00:00Z",
        "discarded_events": [
            {"reason": "queue_overflow", "category": "error", "quantity": 3},
            {"reason": "before_send", "category": "error", "quantity": 1},
            {"reason": "made_up_reason", "category": "made_up", "quantity": 2},
            {"reason": "before_send", "category": "error", "quantity": -5},
            {"reason": "before_send", "category": "error", "quantity": True},
            "not an entry",
        ],
    }
    body = (
        b"{}\n"
        + b'{"type":"client_report"}\n'
        + json.dumps(report).encode()
        + b'\n{"type":"client_report"}\n[1, 2]\n'
        + b'{"type":"event"}\n{"message":"kept"}\n'
    )
    response = post_envelope(project, body, **auth_header(project))
    assert response.status_code == 200, response.content
    assert discarded("queue_overflow", "error") == before["queue_overflow", "error"] + 3
    assert discarded("before_send", "error") == before["before_send", "error"] + 1
    assert discarded("other", "other") == before["other", "other"] + 2
    # A malformed report costs only itself: the envelope's event is stored.
    assert metric("errors_items_dropped_total", type="client_report_invalid") == invalid + 1
    assert ErrorIssue.objects.get().title == "kept"
    # Nothing is counted for a wrong key.
    wrong = {"HTTP_X_SENTRY_AUTH": "Sentry sentry_key=" + "0" * 32}
    assert post_envelope(project, body, **wrong).status_code == 403
    assert discarded("queue_overflow", "error") == before["queue_overflow", "error"] + 3


def test_it_answers_cors_for_allowed_origins_only(project: Project) -> None:
    project.allowed_origins = ["https://app.example.org"]
    project.save()
    body = b'{}\n{"type":"event"}\n{"message":"from the browser"}\n'
    query = f"?sentry_key={project.public_key}&sentry_version=7"
    allowed = post_envelope(project, body, query=query, HTTP_ORIGIN="https://app.example.org")
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.org"
    same = post_envelope(project, body, query=query, HTTP_ORIGIN="http://testserver")
    assert same.status_code == 200
    denied = post_envelope(project, body, query=query, HTTP_ORIGIN="https://evil.example")
    assert denied.status_code == 403
    assert "Access-Control-Allow-Origin" not in denied
    preflight = Client().options(
        f"/api/{project.pk}/envelope/",
        HTTP_ORIGIN="https://app.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-sentry-auth",
    )
    assert preflight.status_code == 200
    assert "X-Sentry-Auth" in preflight["Access-Control-Allow-Headers"]
    assert ErrorIssue.objects.get().event_count == 2


def test_it_rate_limits_per_project_with_sentry_headers(project: Project) -> None:
    project.rate_limit_per_minute = 3
    project.save()
    body = b'{}\n{"type":"event"}\n{"message":"flood"}\n'
    codes = [post_envelope(project, body, **auth_header(project)).status_code for _ in range(3)]
    limited = post_envelope(project, body, **auth_header(project))
    assert codes == [200, 200, 200]
    assert limited.status_code == 429
    retry = int(limited["Retry-After"])
    assert 1 <= retry <= 60
    assert limited["X-Sentry-Rate-Limits"] == f"{retry}::key"
    assert ErrorIssue.objects.get().event_count == 3


@override_settings(ERRORS_SAMPLES_PER_HOUR=3)
def test_it_keeps_n_samples_per_hour_with_exact_counts(project: Project) -> None:
    for number in range(10):
        send_error(project, ValueError(f"Ticket {number} not found"))
    issue = ErrorIssue.objects.get()
    assert issue.event_count == 10
    assert ErrorEvent.objects.count() == 3
    assert IssueHour.objects.get().count == 10


def test_it_scrubs_secrets_before_storage(project: Project) -> None:
    event = {
        "message": "login failed for password=hunter2",
        "request": {
            "url": "https://app.example.org/login?token=abc123secret&page=2",
            "headers": {"Authorization": "Bearer abcdef123456", "Cookie": "sessionid=s3cr3t"},
            "cookies": {"sessionid": "s3cr3t", "csrftoken": "t0k3n"},
            "data": {"username": "alice", "password": "hunter2"},
        },
        "extra": {"api_key": "k-123456789"},
    }
    body = b'{}\n{"type":"event"}\n' + json.dumps(event).encode() + b"\n"
    assert post_envelope(project, body, **auth_header(project)).status_code == 200
    stored = json.dumps(ErrorEvent.objects.get().data)
    for secret in ("hunter2", "abc123secret", "abcdef123456", "s3cr3t", "t0k3n", "k-123456789"):
        assert secret not in stored
    assert "alice" in stored


def test_it_scrubs_frame_variables_from_the_python_sdk(project: Project) -> None:
    send_error(project, ValueError("boom"))
    stored = json.dumps(ErrorEvent.objects.get().data)
    assert "pp-runtime-7731" not in stored
    assert "db_passphrase" in stored


def test_it_drops_ips_and_user_fields_unless_the_project_keeps_them(project: Project) -> None:
    def act(scope: Any) -> None:
        scope.set_user({"id": "42", "email": "alice@example.org", "ip_address": "{{auto}}"})
        scope.capture_message("with a user")

    (envelope,) = sdk_envelopes(project, act)
    post_envelope(project, envelope, REMOTE_ADDR="203.0.113.9", **auth_header(project))
    user = ErrorEvent.objects.get().data["user"]
    assert set(user) == {"id"} and user["id"] != "42"
    assert "alice@example.org" not in json.dumps(ErrorEvent.objects.get().data)

    project.store_ip_address = project.store_user_fields = True
    project.save()
    ErrorEvent.objects.all().delete()
    post_envelope(project, envelope, REMOTE_ADDR="203.0.113.9", **auth_header(project))
    user = ErrorEvent.objects.get().data["user"]
    assert (user["email"], user["ip_address"]) == ("alice@example.org", "203.0.113.9")


def test_it_tags_the_platforms_page_errors_with_their_route_template(
    project: Project, org: Any
) -> None:
    platform = project
    customer = Project.objects.create(name="Acme web", slug="acme-web", organization=org)
    page = {"message": "widget failed", "request": {"url": "http://h/admin/tickets/ticket/7/"}}
    outcome = ingest.ingest(json.loads(json.dumps(page)), platform)
    tags = ErrorEvent.objects.get(issue_id=outcome.issue_id).data["tags"]
    assert tags == {"route": "/admin/tickets/ticket/<path:object_id>/"}
    # A route the event names is kept; another project's URLs mean nothing to this URLconf.
    named = {**page, "message": "named", "tags": {"route": "/tickets/:id"}}
    outcome = ingest.ingest(named, platform)
    assert ErrorEvent.objects.get(issue_id=outcome.issue_id).data["tags"]["route"] == "/tickets/:id"
    outcome = ingest.ingest({**page, "message": "elsewhere"}, customer)
    assert "tags" not in ErrorEvent.objects.get(issue_id=outcome.issue_id).data


def test_it_counts_distinct_affected_users(project: Project) -> None:
    for user in ("1", "2", "1", "3", "2"):
        event = {"message": "broken", "user": {"id": user}}
        ingest.ingest(event, project)
    assert ErrorIssue.objects.get().user_count == 3


def test_a_resolved_issue_seen_again_reopens_as_a_regression(project: Project) -> None:
    ingest.ingest({"message": "broken", "release": "1.0"}, project)
    ErrorIssue.objects.update(status=Status.RESOLVED)
    before = metric("error_issues_regressed_total", project="web")
    outcome = ingest.ingest({"message": "broken", "release": "1.1"}, project)
    issue = ErrorIssue.objects.get()
    assert outcome.regressed
    assert (issue.status, issue.regression_count) == (Status.UNRESOLVED, 1)
    assert issue.regressed_at is not None
    assert metric("error_issues_regressed_total", project="web") == before + 1


def test_resolved_in_next_release_reopens_only_in_another_release(project: Project) -> None:
    ingest.ingest({"message": "broken", "release": "1.0"}, project)
    ErrorIssue.objects.update(status=Status.RESOLVED_NEXT_RELEASE, resolved_in_release="1.0")
    assert not ingest.ingest({"message": "broken", "release": "1.0"}, project).regressed
    assert ErrorIssue.objects.get().status == Status.RESOLVED_NEXT_RELEASE
    assert ingest.ingest({"message": "broken", "release": "1.1"}, project).regressed
    issue = ErrorIssue.objects.get()
    assert issue.status == Status.UNRESOLVED
    assert issue.releases == ["1.0", "1.1"]
    assert issue.event_count == 3


def test_an_ignored_issue_comes_back_after_its_count(project: Project) -> None:
    ingest.ingest({"message": "noisy"}, project)
    ErrorIssue.objects.update(status=Status.IGNORED, ignored_until_count=3)
    ingest.ingest({"message": "noisy"}, project)
    assert ErrorIssue.objects.get().status == Status.IGNORED
    outcome = ingest.ingest({"message": "noisy"}, project)
    assert not outcome.regressed
    assert ErrorIssue.objects.get().status == Status.UNRESOLVED


def test_purge_errors_applies_the_retention(project: Project) -> None:
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    old = timezone.now() - timedelta(days=40)
    ingest.ingest({"message": "old news"}, project, now=old)
    ingest.ingest({"message": "fresh"}, project)
    kept = ErrorIssue.objects.get(title="fresh")
    call_command("purge_errors", "--days", "30")
    assert list(ErrorIssue.objects.all()) == [kept]
    assert ErrorEvent.objects.count() == IssueHour.objects.count() == 1


def test_the_embedded_evaluator_raises_the_error_rules(project: Project) -> None:
    import time
    from datetime import timedelta

    from django.utils import timezone

    from helpdesk.monitoring.alerting import error_rules
    from helpdesk.monitoring.alerting.evaluator import DatabaseSink, Evaluator
    from helpdesk.monitoring.alerting.models import Alert
    from helpdesk.monitoring.alerting.rules import default_rules
    from helpdesk.monitoring.errors.models import ProjectMinute

    ingest.ingest({"message": "fresh bug"}, project)
    ingest.ingest({"message": "old bug", "release": "1.0"}, project)
    ErrorIssue.objects.filter(title="old bug").update(
        status=Status.RESOLVED, first_seen=timezone.now() - timedelta(days=2)
    )
    ingest.ingest({"message": "old bug", "release": "1.1"}, project)
    last_minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    ProjectMinute.objects.create(project=project, minute=last_minute, count=50)
    ProjectMinute.objects.create(
        project=project, minute=last_minute - timedelta(minutes=30), count=60
    )
    rules = [
        r
        for r in default_rules()
        if r.name in {"NewErrorIssue", "ErrorIssueRegression", "ErrorSpike"}
    ]
    Evaluator(rules, DatabaseSink()).evaluate()
    firing = {
        (a.name, a.labels.get("issue_id") or a.labels["project"]) for a in Alert.objects.all()
    }
    fresh = ErrorIssue.objects.get(title="fresh bug").pk
    old = ErrorIssue.objects.get(title="old bug").pk
    assert firing == {
        ("NewErrorIssue", str(fresh)),
        ("ErrorIssueRegression", str(old)),
    }
    spike = error_rules.spikes({"factor": 10, "min_per_minute": 20}).observe(time.time())
    assert [(o.instance, o.bad, o.value) for o in spike] == [("web", True, 50)]


def test_the_write_behind_buffer_answers_first_and_writes_in_batches(
    project: Project, settings: Any
) -> None:
    from helpdesk.monitoring.errors import writer

    buffer = writer.WriteBehindBuffer(background=False)
    for number in range(30):
        text = ("disk full", "queue stuck", "cache cold")[number % 3]
        buffer.add(ingest.accept({"message": text, "user": {"id": number}}, project))
    assert ErrorIssue.objects.count() == 0
    assert buffer.flush() == 30
    assert sorted(ErrorIssue.objects.values_list("event_count", "user_count")) == [(10, 10)] * 3
    assert ErrorEvent.objects.count() == 3 * settings.ERRORS_SAMPLES_PER_HOUR
    assert sum(IssueHour.objects.values_list("count", flat=True)) == 30


@pytest.mark.django_db(transaction=True)
def test_the_endpoint_answers_before_the_background_writer_stores(
    project: Project, settings: Any
) -> None:
    from tests.services import wait_until

    settings.ERRORS_WRITE_BEHIND_SECONDS = 0.05
    body = b'{}\n{"type":"event"}\n{"message":"written behind"}\n'
    assert post_envelope(project, body, **auth_header(project)).status_code == 200
    wait_until(lambda: ErrorIssue.objects.filter(title="written behind").exists(), timeout=10)
