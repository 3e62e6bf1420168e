"""Fuzz the whole API schema with schemathesis against the real web server, in three roles.

`helpdesk serve` (gunicorn) runs on PostgreSQL when DATABASE_URL points at one (a scratch
database made for the run), else on SQLite, and on Redis when REDIS_URL is set. Schemathesis
runs every check (``--checks all``) over /api/v1/schema/ as an administrator, an agent and a
customer; the run must find no server error and no response that breaks the schema.

Lockout and rate limits stay on, configured for the run through the server's environment
(a fuzzer sends thousands of requests a minute from one address). CI runs a bounded number of
examples; a longer run is the same test with more examples and another seed:

    FUZZ_MAX_EXAMPLES=100 FUZZ_SEED=7 pytest tests/test_api_fuzz.py -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.services import free_port, port_open, unavailable
from tests.web_server import migrate, serve, server_env

pytestmark = pytest.mark.services

PASSWORD = "fuzzing is a long password 42"
ROLES = ("admin", "agent", "customer")
_BIN = Path(sys.executable).parent

# Checks whose failures mean a defect of ours, whatever the role: a 5xx, a status, header,
# content type or body the schema does not document. The other checks run too and their
# findings are reported (positive_data_acceptance, for one, cannot know that an agent may not
# assign a ticket to a customer).
REQUIRED_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)

_SETUP = f"""
from django.contrib.auth import get_user_model
from helpdesk.accounts.models import Membership, Organization, Role
from helpdesk.tickets import services

User = get_user_model()
org = Organization.objects.create(name="Fuzz", slug="fuzz")
admin = User.objects.create_superuser("fuzz-admin", password={PASSWORD!r})
agent = User.objects.create_user("fuzz-agent", password={PASSWORD!r})
customer = User.objects.create_user("fuzz-customer", password={PASSWORD!r})
for user, role in ((admin, Role.ADMIN), (agent, Role.AGENT), (customer, Role.CUSTOMER)):
    Membership.objects.create(user=user, organization=org, role=role)
access = services.access_for(admin)
for n in range(5):
    ticket = services.create_ticket(
        admin, access, organization=org, requester=customer, subject=f"Ticket {{n}}",
        assignee=agent if n % 2 else None,
    )
    services.add_comment(ticket, agent, services.access_for(agent), "Looking into it", True)
"""


@dataclass(frozen=True)
class Run:
    """What one schemathesis run reported."""

    role: str
    exit_code: int
    requests: int
    failures: dict[str, int]
    output: str


@contextmanager
def _database(tmp_path: Path) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"
        return
    import psycopg

    base, _, name = url.rpartition("/")
    scratch = f"{name}_fuzz"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        yield f"{base}/{scratch}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield the base URL of a seeded `helpdesk serve` and a bearer token per role."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url and not port_open("127.0.0.1", 6379):
        unavailable("Redis is not running on 127.0.0.1:6379")
    with _database(tmp_path) as database_url:
        env = server_env(
            tmp_path / "data",
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            WEB_CONCURRENCY="2",
            ACCESS_LOG="0",
            # The fuzzer is one client sending thousands of requests a minute, many to ids
            # that do not exist and many with wrong passwords: limits for that client.
            SECURITY_RATE_LIMIT_PER_MINUTE="100000",
            SECURITY_404_LIMIT_PER_MINUTE="100000",
            SECURITY_LOGIN_FAILURE_LIMIT="100000",
        )
        migrate(env)
        subprocess.run(
            [str(_BIN / "helpdesk"), "shell", "-c", _SETUP],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        first = int(os.environ.get("FUZZ_PORT", "19000"))
        port = free_port(first, first + 99)
        with serve(env, port, stdout=tmp_path / "server.log") as running:
            tokens = {}
            for role in ROLES:
                answer = requests.post(
                    f"{running.base}/api/v1/auth/token/",
                    json={"username": f"fuzz-{role}", "password": PASSWORD},
                    timeout=10,
                )
                assert answer.status_code == 201, answer.text
                tokens[role] = answer.json()["token"]
            yield running.base, tokens


def fuzz(base: str, token: str, role: str, report: Path) -> Run:
    """Run schemathesis with every check over the whole schema as ``role``."""
    examples = os.environ.get("FUZZ_MAX_EXAMPLES", "5")
    seed = os.environ.get("FUZZ_SEED", "20261204")
    command = [
        str(_BIN / "st"),
        "run",
        f"{base}/api/v1/schema/?format=json",
        "--checks",
        "all",
        "--max-examples",
        examples,
        "--seed",
        seed,
        "--workers",
        "2",
        "--header",
        f"Authorization: Bearer {token}",
        # Revoking the run's own token would turn the rest of the run into 401s.
        "--exclude-operation-id",
        "auth_token_destroy",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    done = subprocess.run(
        command,
        check=False,
        cwd=report.parent,  # schemathesis keeps a cache folder in its working directory
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output = done.stdout + done.stderr
    report.with_suffix(".txt").write_text(output)
    return Run(role, done.returncode, *_count(report), output=output)


def _count(report: Path) -> tuple[int, dict[str, int]]:
    """Return (requests sent, failures by check name) from an ndjson event report."""
    sent = 0
    failures: dict[str, int] = {}
    for line in report.read_text().splitlines():
        event = json.loads(line)
        for name, body in event.items():
            if name != "ScenarioFinished":
                continue
            recorder = body.get("recorder", {})
            sent += len(recorder.get("interactions", {}))
            for checks in recorder.get("checks", {}).values():
                for check in checks:
                    if check.get("status", "").lower() == "failure":
                        failures[check["name"]] = failures.get(check["name"], 0) + 1
    return sent, failures


@pytest.mark.parametrize("role", ROLES)
def test_it_passes_every_schemathesis_check(
    server: tuple[str, dict[str, str]], role: str, tmp_path: Path
) -> None:
    base, tokens = server
    run = fuzz(base, tokens[role], role, tmp_path / f"{role}.ndjson")
    print(f"schemathesis as {role}: {run.requests} requests, failures {run.failures}")
    assert run.requests > 0, run.output
    defects = {name: n for name, n in run.failures.items() if name in REQUIRED_CHECKS}
    assert not defects, run.output


def _chunks(size: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"subject": "'
    for _ in range(size // piece):
        yield b"x" * piece
    yield b'"}'


def test_it_answers_413_for_a_chunked_body_over_the_limit(
    server: tuple[str, dict[str, str]],
) -> None:
    base, tokens = server
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {tokens['agent']}"}
    # requests sends a generator with Transfer-Encoding: chunked and no Content-Length.
    url = f"{base}/api/v1/tickets/"
    big = requests.post(url, data=_chunks(5 << 20), headers=headers, timeout=30)
    assert big.status_code == 413, big.text
    small = requests.post(url, data=_chunks(0), headers=headers, timeout=30)
    assert small.status_code == 400  # read: the subject is blank, not missing
    assert small.json() == {"subject": ["This field may not be blank."]}
    ok = requests.post(url, data=iter([b'{"subject": "In chunks"}']), headers=headers, timeout=30)
    assert ok.status_code == 201, ok.text
    assert ok.request.headers["Transfer-Encoding"] == "chunked"
