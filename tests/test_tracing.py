"""Distributed tracing against real processes: a gunicorn exporting to an in-process receiver.

One `helpdesk serve` (gunicorn, one worker) for the module runs on a scratch PostgreSQL
database and Redis with OTEL_EXPORTER_OTLP_ENDPOINT pointing at ``tests.otlp_receiver``: the
spans checked here are the ones the OTLP/HTTP exporter really sent. The receiver can refuse or
hold exports to play a collector that is down or hanging.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser import chromium
from tests.otlp_receiver import Receiver, Span, otlp_receiver
from tests.services import free_port, port_open, unavailable
from tests.web_server import TOKEN, Server, migrate, serve, server_env

pytestmark = pytest.mark.services

_BIN = Path(sys.executable).parent
PASSWORD = "tracing is a long password 42"
SECRET_QUERY = "tracing-query-secret-5521"
TRACEPARENT = re.compile(r'traceparent;desc="00-([0-9a-f]{32})-([0-9a-f]{16})-01"')
QUEUE = 64

_SETUP = f"""
from django.contrib.auth import get_user_model
from helpdesk.accounts.models import Membership, Organization, Role
from helpdesk.tickets import services

User = get_user_model()
org = Organization.objects.create(name="Traced", slug="traced")
agent = User.objects.create_user("trace-agent", password={PASSWORD!r})
customer = User.objects.create_user("trace-customer", password={PASSWORD!r})
Membership.objects.create(user=agent, organization=org, role=Role.AGENT)
Membership.objects.create(user=customer, organization=org, role=Role.CUSTOMER)
access = services.access_for(agent)
for n in range(3):
    services.create_ticket(agent, access, organization=org, requester=customer, subject=f"T{{n}}")
print(agent.pk)
"""


@dataclass
class Stack:
    server: Server
    receiver: Receiver
    token: str
    agent_id: str
    log: Path
    env: dict[str, str]

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(
            f"{self.server.base}{path}",
            headers={"Authorization": f"Bearer {self.token}", **headers},
            timeout=10,
        )


def _scratch_database() -> tuple[str, str]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        unavailable("DATABASE_URL does not point at PostgreSQL")
    base, _, name = url.rpartition("/")
    return url, f"{base}/{name}_otel"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url or not port_open("127.0.0.1", 6379):
        unavailable("REDIS_URL is not set or Redis is not running on 127.0.0.1:6379")
    admin_url, database_url = _scratch_database()
    import psycopg

    scratch = database_url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{scratch}"')
    tmp = tmp_path_factory.mktemp("tracing")
    try:
        with otlp_receiver(free_port(23200, 23249)) as receiver:
            env = server_env(
                tmp / "data",
                DATABASE_URL=database_url,
                REDIS_URL=redis_url,
                WEB_CONCURRENCY="1",
                METRICS_TOKEN=TOKEN,
                OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                OTEL_SERVICE_NAME="helpdesk-traced",
                OTEL_RESOURCE_ATTRIBUTES="deployment.region=test-lab",
                OTEL_BSP_SCHEDULE_DELAY="100",
                OTEL_BSP_MAX_QUEUE_SIZE=str(QUEUE),
                OTEL_EXPORTER_OTLP_TIMEOUT="1",
            )
            migrate(env)
            # The platform's pages load the browser SDK (built by `make frontend`).
            subprocess.run(
                [str(_BIN / "helpdesk"), "collectstatic", "--noinput", "-v0"],
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
            agent_id = subprocess.run(
                [str(_BIN / "helpdesk"), "shell", "-c", _SETUP],
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout.split()[-1]
            log = tmp / "server.log"
            with serve(env, free_port(23250, 23299), stdout=log) as server:
                answer = requests.post(
                    f"{server.base}/api/v1/auth/token/",
                    json={"username": "trace-agent", "password": PASSWORD},
                    timeout=10,
                )
                assert answer.status_code == 201, answer.text
                yield Stack(server, receiver, answer.json()["token"], agent_id, log, env)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _trace_of(response: requests.Response) -> tuple[str, str]:
    match = TRACEPARENT.search(response.headers.get("Server-Timing", ""))
    assert match, response.headers.get("Server-Timing")
    return match.group(1), match.group(2)


def _server_span(receiver: Receiver, trace_id: str) -> list[Span]:
    spans = receiver.wait_for(
        lambda spans: any(s.trace_id == trace_id and s.kind == "server" for s in spans)
    )
    return [s for s in spans if s.trace_id == trace_id]


def _access_line(log: Path, request_id: str) -> dict[str, Any]:
    for line in log.read_text().splitlines():
        if request_id in line and line.startswith("{"):
            event = json.loads(line)
            if event.get("event", {}).get("dataset") == "helpdesk.access":
                return event
    raise AssertionError(f"no access line for {request_id}")


def _dropped(stack: Stack) -> dict[str, float]:
    body = requests.get(
        f"{stack.server.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).text
    return {
        reason: float(value)
        for reason, value in re.findall(
            r'helpdesk_tracing_spans_dropped_total\{reason="(\w+)"\} (\S+)', body
        )
    }


def test_it_exports_one_trace_per_request_with_its_sql_and_cache_spans(stack: Stack) -> None:
    # A list request calls Redis only when one of the app's once-a-second cache writes falls
    # in it: ask again (a second apart) until one has its cache span.
    for _ in range(6):
        response = stack.get(f"/api/v1/tickets/?search={SECRET_QUERY}")
        assert response.status_code == 200
        trace_id, span_id = _trace_of(response)
        spans = _server_span(stack.receiver, trace_id)
        if any(s.attributes.get("db.system") == "redis" for s in spans):
            break
        time.sleep(1.1)
    servers = [s for s in spans if s.kind == "server"]
    assert len(servers) == 1
    root = servers[0]
    assert (root.span_id, root.parent_id) == (span_id, "")
    assert root.name == "GET api/v1/tickets/"
    assert root.attributes["http.route"] == "api/v1/tickets/"
    assert root.attributes["http.status_code"] == 200
    assert root.attributes["enduser.id"] == stack.agent_id
    assert root.attributes["helpdesk.organization"] == "traced"
    assert root.resource["service.name"] == "helpdesk-traced"
    assert root.resource["deployment.region"] == "test-lab"
    sql = [s for s in spans if s.attributes.get("db.system") == "postgresql"]
    cache = [s for s in spans if s.attributes.get("db.system") == "redis"]
    assert sql and cache
    assert {s.parent_id for s in sql + cache} == {root.span_id}
    assert any("tickets_ticket" in s.attributes["db.statement"] for s in sql)
    # No secret anywhere: not the token, not the query string, not a parameter value.
    text = json.dumps([s.attributes for s in spans])
    assert stack.token not in text
    assert SECRET_QUERY not in text
    assert "Authorization" not in text and "Bearer" not in text


def test_it_writes_the_trace_id_on_the_access_log_line(stack: Stack) -> None:
    request_id = uuid.uuid4().hex
    response = stack.get("/api/v1/tickets/", **{"X-Request-ID": request_id})
    trace_id, span_id = _trace_of(response)
    _server_span(stack.receiver, trace_id)  # the line is written before the span ends
    event = _access_line(stack.log, request_id)
    assert event["trace"] == {"id": trace_id}
    assert event["span"] == {"id": span_id}
    assert event["transaction"] == {"id": span_id}


def test_it_joins_the_trace_of_an_incoming_traceparent(stack: Stack) -> None:
    parent_trace, parent_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    response = stack.get("/api/v1/tickets/", traceparent=f"00-{parent_trace}-{parent_span}-01")
    assert _trace_of(response)[0] == parent_trace
    [root] = [s for s in _server_span(stack.receiver, parent_trace) if s.kind == "server"]
    assert root.parent_id == parent_span


def test_it_takes_no_span_for_a_request_its_caller_did_not_sample(stack: Stack) -> None:
    unsampled = uuid.uuid4().hex
    request_id = uuid.uuid4().hex
    response = stack.get(
        "/api/v1/tickets/",
        traceparent=f"00-{unsampled}-{uuid.uuid4().hex[:16]}-00",
        **{"X-Request-ID": request_id},
    )
    assert response.status_code == 200
    assert "traceparent" not in response.headers.get("Server-Timing", "")
    # A later sampled request is exported: by then the unsampled one would have been too.
    later = _trace_of(stack.get("/api/v1/tickets/"))[0]
    _server_span(stack.receiver, later)
    assert stack.receiver.trace(unsampled) == []
    assert "trace" not in _access_line(stack.log, request_id)


def test_it_traces_neither_health_probes_nor_scrapes(stack: Stack) -> None:
    # The full health check and the scrape both query PostgreSQL and Redis.
    requests.get(f"{stack.server.base}/health/", timeout=10)
    _dropped(stack)  # a scrape
    later = _trace_of(stack.get("/api/v1/tickets/"))[0]
    spans = _server_span(stack.receiver, later)
    assert spans
    targets = {s.attributes.get("http.target", "") for s in stack.receiver.spans}
    assert not any(t.startswith(("/health", "/metrics")) for t in targets)
    # Nor are their queries traces of their own.
    orphans = [s for s in stack.receiver.spans if s.kind == "client" and not s.parent_id]
    assert [(s.resource.get("helpdesk.process.role"), s.attributes) for s in orphans] == []


def test_it_runs_each_worker_job_as_a_trace_of_its_own(stack: Stack) -> None:
    # The default queue: the evaluation's hundreds of query spans end before its root span, and
    # on a fast machine they fill the stack's small queue (kept small to test drops) first.
    subprocess.run(
        [str(_BIN / "helpdesk"), "worker", "--once"],
        env={**stack.env, "OTEL_BSP_MAX_QUEUE_SIZE": "2048"},
        check=True,
        capture_output=True,
        timeout=120,
    )
    spans = stack.receiver.wait_for(
        lambda spans: {"job evaluate", "job deliver"} <= {s.name for s in spans}
    )
    jobs = [s for s in spans if s.name.startswith("job ")]
    roots = {s.name: s for s in jobs if s.parent_id == ""}
    assert {"job evaluate", "job deliver", "job history"} <= set(roots)
    assert len({s.trace_id for s in roots.values()}) == len(roots)
    assert roots["job evaluate"].resource["helpdesk.process.role"] == "worker"
    # The history sampler's queries belong to its job's trace.
    history = roots["job history"]
    assert any(
        s.parent_id == history.span_id and s.attributes.get("db.system") == "postgresql"
        for s in spans
    )


def test_it_puts_the_trace_id_on_the_latency_bucket_as_an_exemplar(stack: Stack) -> None:
    trace_id = _trace_of(stack.get("/api/v1/tickets/?page=1"))[0]
    scrape = requests.get(
        f"{stack.server.base}/metrics",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text"},
        timeout=10,
    )
    assert scrape.headers["Content-Type"].startswith("application/openmetrics-text")
    buckets = [
        line
        for line in scrape.text.splitlines()
        if line.startswith("http_server_request_duration_seconds_bucket{")
        and 'http_route="api/v1/tickets/"' in line
        and " # {" in line
    ]
    assert buckets, "no exemplar on the ticket list's buckets"
    exemplar_ids = set(re.findall(r'# \{trace_id="([0-9a-f]{32})"\}', "\n".join(buckets)))
    # The bucket's exemplar is a sampled ticket-list request of this module (refreshed at
    # most every few seconds, so not necessarily the newest).
    exported = {s.trace_id for s in stack.receiver.spans if s.name == "GET api/v1/tickets/"}
    assert exemplar_ids and exemplar_ids <= exported | {trace_id}
    # The classic text format has no exemplars.
    text = requests.get(
        f"{stack.server.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).text
    assert "trace_id" not in text


def test_it_joins_a_pages_api_fetch_to_the_pages_trace(stack: Stack) -> None:
    """Chromium loads a server-rendered page, then the page fetches the API."""
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{stack.server.base}/admin/login/", wait_until="load")
        meta = page.get_attribute('meta[name="traceparent"]', "content")
        assert meta is not None
        _, trace_id, page_span, _ = meta.split("-")
        assert page.evaluate("() => typeof window.helpdeskMonitor") == "object"
        status = page.evaluate(
            """async (token) => (await fetch("/api/v1/tickets/",
                {headers: {Authorization: "Bearer " + token}})).status""",
            stack.token,
        )
        assert status == 200
        page.close()
    spans = stack.receiver.wait_for(
        lambda spans: any(s.trace_id == trace_id and s.name == "GET api/v1/tickets/" for s in spans)
    )
    trace = [s for s in spans if s.trace_id == trace_id and s.kind == "server"]
    [rendered] = [s for s in trace if s.span_id == page_span]
    assert rendered.name == "GET admin/login/"
    [api] = [s for s in trace if s.name == "GET api/v1/tickets/"]
    assert api.parent_id == page_span


def test_it_drops_and_counts_spans_while_the_collector_hangs_or_is_down(stack: Stack) -> None:
    before = _dropped(stack)
    assert set(before) == {"queue_full", "export_failed"}
    stack.receiver.hang.set()
    try:
        # Each request ends about ten spans: more than the queue holds while one export hangs.
        statuses = [stack.get("/api/v1/tickets/").status_code for _ in range(3 * QUEUE // 10)]
    finally:
        stack.receiver.hang.clear()
    assert set(statuses) == {200}
    assert _dropped(stack)["queue_full"] > before["queue_full"]
    stack.receiver.down.set()
    try:
        statuses = [stack.get("/api/v1/tickets/").status_code for _ in range(3)]
        assert set(statuses) == {200}
        stack.receiver.wait_for(
            lambda _: _dropped(stack)["export_failed"] > before["export_failed"]
        )
    finally:
        stack.receiver.down.clear()
    # The collector back, new requests are exported again. One request's spans may still
    # find the queue full of what waited through the outage (and be dropped, as counted):
    # ask until one gets through.
    deadline = time.monotonic() + 30
    while True:
        later = _trace_of(stack.get("/api/v1/tickets/"))[0]
        try:
            assert stack.receiver.wait_for(
                lambda spans, later=later: any(
                    s.trace_id == later and s.kind == "server" for s in spans
                ),
                timeout=3,
            )
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
