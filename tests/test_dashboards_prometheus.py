"""Every PromQL expression of every dashboard, evaluated by a real Prometheus scraping the
running app (gunicorn, PostgreSQL, demo data, a worker run) after traffic has flowed: each
must parse and return series. Grafana's ``$__rate_interval`` becomes ``1m`` (Prometheus
scrapes every second here); the rule files are loaded, so the SLO recording rules exist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.engines import prometheus
from tests.services import free_port, require_binary, unavailable, wait_until
from tests.web_server import TOKEN, migrate, serve, server_env

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "rules"
HOOK_TOKEN = "alertmanager-hook-token-for-the-dashboards-test"
_BIN = Path(sys.executable).parent


def expressions() -> list[tuple[str, str, str]]:
    """Return (dashboard, panel, PromQL) for every query of every dashboard."""
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "1m")
                found.append((path.stem, panel["title"], expr))
    return found


@pytest.fixture
def postgres_url() -> Any:
    """A scratch PostgreSQL database for the server, dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        unavailable("DATABASE_URL does not point at PostgreSQL (the dashboards read its figures)")
    import psycopg

    base, _, name = url.rpartition("/")
    scratch = f"{name}_dashboards"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{scratch}"')
    yield f"{base}/{scratch}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _config(tmp_path: Path, target: str) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules/*.yml"],
        "scrape_configs": [
            {
                "job_name": "helpdesk",
                "authorization": {"type": "Bearer", "credentials": TOKEN},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _traffic(base: str) -> None:
    """Pages, API calls, failed logins, browser reports and an Alertmanager notification."""
    session = requests.Session()
    for _ in range(5):
        session.get(f"{base}/health/live", timeout=10)
        session.get(f"{base}/api/v1/tickets/", timeout=10)  # 401
        session.get(f"{base}/no/such/page", timeout=10)  # 404
        session.post(
            f"{base}/api/v1/auth/token/",
            json={"username": "nobody", "password": "wrong password"},
            timeout=10,
        )
    vitals = [
        {"name": "LCP", "value": 1800.0, "id": "v1"},
        {"name": "CLS", "value": 0.02, "id": "v2"},
        {"name": "INP", "value": 90, "id": "v3"},
    ]
    report = {
        "sentAt": 0,
        "page": f"{base}/app/tickets/7",
        "route": "/tickets/:id",
        "vitals": vitals,
        "pageLoad": {"domContentLoaded": 120, "loadComplete": 300, "totalTime": 450},
    }
    for origin in (base, "http://elsewhere.example"):  # the second is refused and counted
        session.post(
            f"{base}/api/v1/analytics/performance/",
            data=json.dumps({**report, "sentAt": time.time() * 1000}),
            headers={"Origin": origin, "Content-Type": "text/plain;charset=UTF-8"},
            timeout=10,
        )
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "job": "helpdesk", "severity": "critical"},
        "annotations": {"summary": "High error rate"},
        "startsAt": "2026-01-05T12:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": "0123456789abcdef",
    }
    hook = session.post(
        f"{base}/api/v1/monitoring/alerts/alertmanager/",
        json={
            "receiver": "helpdesk",
            "status": "firing",
            "alerts": [alert],
            "groupLabels": {},
            "commonLabels": alert["labels"],
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "version": "4",
            "groupKey": "{}",
            "truncatedAlerts": 0,
        },
        headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
        timeout=10,
    )
    assert hook.status_code < 300, hook.text


def _query(url: str, expr: str) -> tuple[str, int]:
    answer = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    if answer["status"] != "success":
        return answer.get("error", "error"), 0
    return "", len(answer["data"]["result"])


@pytest.mark.services
def test_it_evaluates_every_dashboard_expression_against_the_running_app(
    tmp_path: Path, postgres_url: str
) -> None:
    require_binary("prometheus")
    env = server_env(
        tmp_path / "data",
        ACCESS_LOG="0",
        WEB_CONCURRENCY="2",
        METRICS_TOKEN=TOKEN,
        DATABASE_URL=postgres_url,
        ALERTMANAGER_WEBHOOK_TOKEN=HOOK_TOKEN,
    )
    migrate(env)
    for command in (["seed_demo", "--tickets", "60"], ["worker", "--once"]):
        subprocess.run([str(_BIN / "helpdesk"), *command], env=env, check=True, capture_output=True)
    port = free_port(25000, 25099)
    with serve(env, port, stdout=tmp_path / "server.log", ready="/health/live") as server:
        config = _config(tmp_path, f"127.0.0.1:{port}")
        with prometheus(config, tmp_path / "prom", free_port(25100, 25199)) as url:
            wait_until(
                lambda: _query(url, 'up{job="helpdesk"} == 1')[1],
                timeout=30,
                message="Prometheus did not scrape the app",
            )
            _traffic(server.base)
            queries = expressions()
            # Parse errors show at once; series need a few scrapes and rule evaluations.
            errors = {e: error for _, _, e in queries if (error := _query(url, e)[0])}
            assert errors == {}

            def empty() -> list[tuple[str, str, str]]:
                return [q for q in queries if not _query(url, q[2])[1]]

            try:
                wait_until(lambda: not empty(), timeout=60, interval=2)
            except AssertionError:
                pytest.fail(f"expressions without series: {empty()}")
    assert len(queries) >= 40
