"""The worker as a real process: heartbeat, SIGTERM, and nothing lost when it is SIGKILLed.

The big test fires and resolves 500 alerts routed to a Slack-compatible receiver that fails
30 % of requests and to a real SMTP server, runs two workers at once, SIGKILLs one of them
mid-run (twice) and restarts it, and checks that every (alert, state, channel) arrived, that
"resolved" never came before "firing", and that a key arrived twice only where a kill could
have cut between the receiver's answer and the outbox update (at most one per kill).
The workers share a database file (SQLite) or, with DATABASE_URL at PostgreSQL, a scratch
PostgreSQL database.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.receivers import HttpReceiver, SmtpReceiver
from tests.scratchdb import _env, _helpdesk, _run, database  # noqa: F401 - a fixture

ALERTS = 500


FIRE_AND_RESOLVE = f"""
from helpdesk.monitoring.alerting import channels, services
channels.sync_from_settings()
fps = []
for i in range({ALERTS}):
    alert, _ = services.fire(name="Load", labels={{"alertname": "Load", "severity": "critical",
                             "instance": str(i)}}, annotations={{"summary": "load " + str(i)}})
    fps.append(alert.fingerprint)
for fp in fps:
    services.resolve(fp)
"""


@pytest.mark.services
def test_it_loses_nothing_when_a_worker_is_killed_mid_run(
    tmp_path: Path,
    database: tuple[str, Any],  # noqa: F811 - the fixture imported above
) -> None:
    url, query = database
    with HttpReceiver(failure_rate=0.3) as slack, SmtpReceiver() as smtp:
        env = _env(
            tmp_path,
            url,
            ALERT_SLACK_WEBHOOK_URL=slack.url,
            ALERT_EMAIL_TO="ops@example.org",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp.port),
        )
        _run(env, "migrate", "--no-input")
        _run(env, "shell", "-c", FIRE_AND_RESOLVE)
        expected = ALERTS * 2 * 2  # (firing, resolved) x (slack, email)
        assert query("SELECT count(*) FROM alerting_notification")[0][0] == expected

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [_helpdesk(), "worker", "--no-evaluate", "--batch", "25"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        steady, victim = start(), start()
        kills = 0
        deadline = time.monotonic() + 240
        try:
            while time.monotonic() < deadline:
                delivered = len(slack.keys()) + len(smtp.keys())
                if kills < 2 and delivered > expected * (kills + 1) / 4:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    kills += 1
                    victim = start()
                sent = query("SELECT count(*) FROM alerting_notification WHERE status='sent'")
                if sent[0][0] == expected:
                    break
                time.sleep(0.5)
        finally:
            for process in (steady, victim):
                process.send_signal(signal.SIGTERM)
            for process in (steady, victim):
                assert process.wait(timeout=30) in {0, -signal.SIGTERM}
        statuses = dict(query("SELECT status, count(*) FROM alerting_notification GROUP BY status"))
        slack_keys, mail_keys = slack.keys(), smtp.keys()
        slack_order = [item["headers"]["Idempotency-Key"] for item in slack.accepted]

    assert kills == 2
    assert statuses == {"sent": expected}, statuses
    db_keys = {row[0] for row in query("SELECT idempotency_key FROM alerting_notification")}
    assert set(slack_keys) | set(mail_keys) == db_keys
    assert len(slack_keys) == len(mail_keys) == ALERTS * 2
    duplicates = sum(n - 1 for n in slack_keys.values()) + sum(n - 1 for n in mail_keys.values())
    # A duplicate is only possible when a kill fell between delivery and the outbox update,
    # and each of the two killed workers had at most one delivery in flight.
    assert duplicates <= kills
    first_seen: dict[str, int] = {}
    for index, key in enumerate(slack_order):
        first_seen.setdefault(key, index)
    for key, index in first_seen.items():
        if ":resolved:" in key:
            assert first_seen[key.replace(":resolved:", ":firing:")] < index


def test_it_writes_a_heartbeat_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hb.sqlite3'}"
    env = _env(tmp_path, url, ALERT_EVALUATION_INTERVAL_SECONDS="0.5")
    _run(env, "migrate", "--no-input")
    process = subprocess.Popen(
        [_helpdesk(), "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        rows: list[Any] = []
        while time.monotonic() < deadline and not rows:
            time.sleep(0.5)
            with sqlite3.connect(tmp_path / "hb.sqlite3", timeout=20) as conn:
                try:
                    rows = conn.execute("SELECT pid, jobs FROM alerting_workerheartbeat").fetchall()
                except sqlite3.OperationalError:
                    rows = []
        assert rows and rows[0][0] == process.pid
        assert "evaluate" in rows[0][1] and "deliver" in rows[0][1]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr[-2000:]
    assert b"Traceback" not in stderr


@pytest.mark.django_db(transaction=True)
def test_it_keeps_running_when_a_job_fails() -> None:
    from helpdesk.monitoring.alerting.worker import Job, Worker, heartbeat_age

    calls: list[str] = []

    def broken() -> None:
        calls.append("broken")
        raise RuntimeError("boom")

    worker = Worker([Job("broken", 1, broken), Job("ok", 1, lambda: calls.append("ok"))])
    worker.run_once()
    worker.run_once()
    assert calls == ["broken", "ok", "broken", "ok"]
    assert worker.jobs[0].failures == 2 and worker.jobs[0].last_error == "RuntimeError"
    assert heartbeat_age() is None or heartbeat_age() >= 0
    worker.heartbeat()
    age = heartbeat_age()
    assert age is not None and 0 <= age < 5
