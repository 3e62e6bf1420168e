"""Log files shared by several processes: a real gunicorn with two workers, and forked writers."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from helpdesk.monitoring.logging.formatters import ECSFormatter
from helpdesk.monitoring.logging.handlers import SharedRotatingFileHandler
from tests.services import free_port
from tests.web_server import migrate, serve, server_env

SECRET_QUERY = "gunicorn-query-token-77"
SECRET_BEARER = "hdk_gunicornbearer0123456789"
SECRET_COOKIE = "gunicorn-session-4455"


def _read_events(log_dir: Path, stem: str) -> list[dict[str, Any]]:
    events = []
    for path in sorted(log_dir.glob(f"{stem}*")):
        if path.suffix == ".lock":
            continue
        for line in path.read_text().splitlines():
            events.append(json.loads(line))  # a torn or merged line fails here
    return events


@contextmanager
def _file_logger(
    name: str, path: str | Path, max_bytes: int, backup_count: int
) -> Iterator[logging.Logger]:
    """Yield a logger writing ECS lines only to a SharedRotatingFileHandler on ``path``."""
    handler = SharedRotatingFileHandler(path, max_bytes=max_bytes, backup_count=backup_count)
    handler.setFormatter(ECSFormatter())
    log = logging.getLogger(name)
    log.addHandler(handler)
    log.propagate = False
    try:
        yield log
    finally:
        log.removeHandler(handler)
        handler.close()


def test_it_rotates_at_the_configured_size(tmp_path: Path) -> None:
    with _file_logger("helpdesk.tests.rotation", tmp_path / "app.log", 2000, 3) as log:
        for index in range(200):
            log.warning("line %d", index)
    files = sorted(p.name for p in tmp_path.glob("app.log*") if p.suffix != ".lock")
    assert files == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    for name in files:
        assert 0 < (tmp_path / name).stat().st_size <= 2000
    kept = [e["message"] for e in _read_events(tmp_path, "app.log")]
    # The newest lines survive, in order, and the oldest were dropped with the oldest backup.
    assert "line 199" in kept
    assert "line 0" not in kept


def test_it_follows_a_log_file_removed_by_hand(tmp_path: Path) -> None:
    """Lines go to the path again once the file is gone."""
    with _file_logger("helpdesk.tests.removed", tmp_path / "app.log", 10_000, 1) as log:
        log.warning("before")
        (tmp_path / "app.log").unlink()
        log.warning("after")
        lines = (tmp_path / "app.log").read_text().splitlines()
        assert [json.loads(line)["message"] for line in lines] == ["after"]
        for index in range(100):  # the size counts from the new, empty file
            log.warning("filler %d %s", index, "x" * 200)
    for name in ("app.log", "app.log.1"):
        assert 0 < (tmp_path / name).stat().st_size <= 10_000


def test_it_rotates_one_file_written_by_two_handlers(tmp_path: Path) -> None:
    """Two handlers on one file (as two processes would) rotate it in turn, losing nothing."""
    path = tmp_path / "app.log"
    with (
        _file_logger("helpdesk.tests.shared0", path, 3_000, 50) as first,
        _file_logger("helpdesk.tests.shared1", path, 3_000, 50) as second,
    ):
        for index in range(60):
            (first, second)[index % 2].warning("line %d", index)
    events = _read_events(tmp_path, "app.log")
    assert sorted(int(e["message"].split()[1]) for e in events) == list(range(60))
    files = [p for p in tmp_path.glob("app.log*") if p.suffix != ".lock"]
    assert len(files) > 2
    for path in files:
        assert path.stat().st_size <= 3_000


def _writer(path: str, count: int) -> None:
    with _file_logger(f"helpdesk.tests.writer.{os.getpid()}", path, 16_000, 500) as log:
        for index in range(count):
            log.warning("writer %d line %d %s", os.getpid(), index, "x" * 100)


def test_it_loses_no_line_when_processes_rotate_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "app.log")
    pids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                _writer(path, 400)
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    events = _read_events(tmp_path, "app.log")
    assert len(events) == 1600
    assert len({e["message"] for e in events}) == 1600
    backups = [p for p in tmp_path.glob("app.log.*") if p.suffix != ".lock"]
    assert len(backups) > 10  # it really rotated, many times, under four writers
    for backup in backups:
        assert backup.stat().st_size <= 16_000


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """Run `helpdesk serve` (gunicorn, two workers) on SQLite with JSON logs to files."""
    log_dir = tmp_path / "log"
    env = server_env(
        tmp_path / "data",
        LOG_FORMAT="json",
        LOG_FILES="1",
        LOG_DIR=str(log_dir),
        LOG_FILE_MAX_BYTES="8192",
        LOG_FILE_BACKUPS="200",
        WEB_CONCURRENCY="2",
    )
    migrate(env)
    stdout = tmp_path / "stdout.txt"
    with serve(
        env, free_port(18500, 18549), stdout=stdout, stderr=tmp_path / "stderr.txt"
    ) as server:
        yield server.base, log_dir, [str(stdout)]


def test_it_logs_ecs_json_from_gunicorn_workers_into_shared_files(
    gunicorn: tuple[str, Path, list[str]],
) -> None:
    base, log_dir, (stdout_path,) = gunicorn
    session = requests.Session()  # keep-alive: the 150 requests ride few connections
    expected: dict[str, int] = {}
    for index in range(150):
        response = session.get(
            f"{base}/api/v1/tickets/?token={SECRET_QUERY}&n={index}",
            headers={
                "Authorization": f"Bearer {SECRET_BEARER}",
                "Cookie": f"sessionid={SECRET_COOKIE}",
                "User-Agent": f"agent {index}",
            },
            timeout=10,
        )
        expected[response.headers["X-Request-ID"]] = response.status_code
    # One request with a hostile user agent, sent raw: a tab, NEL (\x85) and U+2028 (UTF-8),
    # which some tools take for line breaks. (gunicorn itself refuses CR, LF and other
    # control bytes in a header; the in-process tests cover those.)
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(
            b"GET /api/v1/tickets/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"User-Agent: evil\tline\x85next\xe2\x80\xa8end\r\nConnection: close\r\n\r\n"
        )
        sock.recv(65536)
    time.sleep(0.5)  # let the workers finish writing

    events = _read_events(log_dir, "app.log")
    access = [
        e
        for e in events
        if e["event"]["dataset"] == "helpdesk.access" and e["url"]["path"] != "/api/v1/auth/token/"
    ]
    by_id = {e["http"]["request"]["id"]: e for e in access}
    for rid, status in expected.items():
        assert by_id[rid]["http"]["response"]["status_code"] == status
    assert len(access) == len(expected) + 1  # no line lost or doubled across rotations
    [evil] = [e for e in access if e["user_agent"]["original"].startswith("evil")]
    # WSGI decodes header bytes as latin-1; the line stays one JSON line with it escaped.
    assert evil["user_agent"]["original"] == "evil\tline\x85next\xe2\x80\xa8end"
    # gunicorn's own lines ("Booting worker…") come from each worker and the master, all
    # into the same app.log.
    assert len({e["process"]["pid"] for e in events}) >= 3
    assert len([p for p in log_dir.glob("app.log.*") if p.suffix != ".lock"]) >= 2
    server = [e for e in events if e["event"]["dataset"] == "helpdesk.server"]
    assert any("Booting worker" in e["message"] for e in server)  # gunicorn's own lines
    stdout_lines = Path(stdout_path).read_text().splitlines()
    assert stdout_lines
    for line in stdout_lines:
        json.loads(line)
    everything = Path(stdout_path).read_text() + "".join(
        p.read_text() for p in log_dir.iterdir() if p.is_file()
    )
    for secret in (SECRET_QUERY, SECRET_BEARER, SECRET_COOKIE):
        assert secret not in everything
