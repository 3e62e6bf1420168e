"""The inspector report exposed three ways: collector, JSON API, ``helpdesk db-stats``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from prometheus_client import CollectorRegistry, generate_latest
from rest_framework.test import APIClient

from helpdesk.monitoring import database
from helpdesk.monitoring.database.collector import DatabaseCollector
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
TOKEN = "d" * 40
URL = "/api/v1/monitoring/database/"


@pytest.fixture(autouse=True)
def _fresh(settings: Any) -> Any:
    settings.MONITORING_API_TOKEN = TOKEN
    database.clear_cache()
    yield
    database.clear_cache()


def scrape() -> str:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    return generate_latest(registry).decode()


def test_it_exports_helpdesk_db_metrics() -> None:
    text = scrape()
    assert f'helpdesk_db_inspector_up{{vendor="{connection.vendor}"}} 1.0' in text
    assert "helpdesk_db_size_bytes" in text
    assert "helpdesk_db_inspect_duration_seconds" in text
    if connection.vendor == "postgresql":
        assert 'helpdesk_db_connections{state="active"}' in text
        assert "helpdesk_db_max_connections" in text
        assert "helpdesk_db_statements_available" in text
        assert 'helpdesk_db_table_size_bytes{part="total",table="tickets_ticket"}' in text
    else:
        assert "helpdesk_db_pages" in text


def test_it_is_listed_for_the_metrics_endpoint(settings: Any) -> None:
    assert (
        "helpdesk.monitoring.database.collector.DatabaseCollector"
        in settings.HELPDESK_METRICS_COLLECTORS
    )


def test_it_caches_the_report_for_the_ttl(settings: Any) -> None:
    settings.DB_MONITOR_CACHE_SECONDS = 60
    first = database.report()
    assert database.report() is first
    assert database.report(max_age=0) is not first
    settings.DB_MONITOR_CACHE_SECONDS = 0
    assert database.report() is not database.report()


def test_it_serves_the_report_to_the_monitoring_token() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    response = client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["vendor"] == connection.vendor
    assert body["tables"]["status"] in {"ok", "unavailable: the database has no tables"}


def test_it_serves_the_report_to_staff(bob: Any) -> None:
    bob.is_staff = True
    bob.save()
    assert client_for(bob).get(URL).status_code == 200


def test_it_refuses_owner_member_and_outsider(alice: Any, bob: Any, charlie: Any) -> None:
    for user in (alice, bob, charlie):
        assert client_for(user).get(URL).status_code == 403


def test_it_answers_401_without_credentials() -> None:
    assert APIClient().get(URL).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    assert client.get(URL).status_code == 401


def test_it_prints_tables_and_json() -> None:
    out = StringIO()
    call_command("db_stats", stdout=out)
    text = out.getvalue()
    assert text.startswith(f"{connection.vendor} database ")
    assert "tables: ok" in text
    out = StringIO()
    call_command("db_stats", "--json", stdout=out)
    assert json.loads(out.getvalue())["vendor"] == connection.vendor


def test_it_runs_as_helpdesk_db_stats(tmp_path: Path) -> None:
    env = {**os.environ, "HELPDESK_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    helpdesk = str(Path(sys.executable).with_name("helpdesk"))
    subprocess.run([helpdesk, "migrate", "-v0"], env=env, check=True)
    done = subprocess.run(
        [helpdesk, "db-stats", "--json"], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout)
    assert report["vendor"] == "sqlite"
    assert report["file"]["path"] == str(tmp_path / "helpdesk.sqlite3")
    assert report["tables"]["count"] >= 10


def test_it_says_unavailable_for_a_vendor_without_an_inspector(monkeypatch: Any) -> None:
    # No MySQL/Oracle server can run here: stand in for one by refusing the lookup.
    def no_inspector(alias: str = "default", options: Any = None) -> Any:
        raise LookupError("no database inspector for mysql")

    monkeypatch.setattr(database, "inspector_for", no_inspector)
    report = database.report(max_age=0)
    assert report["status"] == "unavailable: no database inspector for mysql"
    assert "helpdesk_db_inspector_up" in scrape()
    assert f'helpdesk_db_inspector_up{{vendor="{connection.vendor}"}} 0.0' in scrape()
    out = StringIO()
    call_command("db_stats", stdout=out)
    assert out.getvalue().strip().endswith("unavailable: no database inspector for mysql")
