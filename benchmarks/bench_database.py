"""Cost of a database inspector refresh and of a /metrics scrape that includes it.

    python benchmarks/bench_database.py [--rounds 30]

PostgreSQL part: a scratch database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/helpdesk_bench_db; created and dropped here) with 200
tables, each with an index and a few rows. Compared side by side in one run:
  - the spec's three naive queries (active count, pg_tables sizes, database size),
  - one full inspector refresh (nine sections, each in its own transaction),
  - a scrape of the default prometheus_client registry, alone, with DatabaseCollector
    (cached report, the production case), with it uncached (refresh per scrape), and with
    SystemCollector.
SQLite part: an inspector refresh on a file with 200 tables. Ratios are what to read.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/helpdesk_bench_db"
TABLES = 200


def timed(function: Callable[[], object], rounds: int) -> float:
    """Return the median milliseconds of ``rounds`` calls (after one warm-up call)."""
    function()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def prepare_postgresql(url: str) -> bool:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}"')
            db.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        print(f"PostgreSQL part skipped: {error}".splitlines()[0])
        return False
    with psycopg.connect(url, autocommit=True) as db, db.transaction():
        for i in range(TABLES):
            db.execute(f"CREATE TABLE bench_{i:03d} (id serial PRIMARY KEY, body text)")
            db.execute(f"CREATE INDEX ON bench_{i:03d} (body)")
            rows = "SELECT md5(g::text) FROM generate_series(1, %s) g"
            db.execute(f"INSERT INTO bench_{i:03d} (body) {rows}", [10 + i])
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ANALYZE")
    return True


def drop_postgresql(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def naive_spec_queries() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'")
        cursor.fetchall()
        cursor.execute(
            "SELECT schemaname, tablename,"
            " pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename))"
            " FROM pg_tables WHERE schemaname = 'public'"
            " ORDER BY pg_total_relation_size(schemaname||'.'||tablename) DESC LIMIT 10"
        )
        cursor.fetchall()
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        cursor.fetchall()


def bench_postgresql(rounds: int) -> None:
    from django.conf import settings
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    from helpdesk.monitoring import database
    from helpdesk.monitoring.database.collector import DatabaseCollector
    from helpdesk.monitoring.system.collector import SystemCollector

    inspector = database.inspector_for("default")
    report = inspector.inspect()
    assert report["tables"]["count"] == TABLES, report["tables"]
    print(f"PostgreSQL {TABLES} tables, median of {rounds} rounds")
    naive = timed(naive_spec_queries, rounds)
    full = timed(inspector.inspect, rounds)
    print(f"  spec's 3 naive queries          {naive:8.2f} ms")
    print(f"  inspector refresh (9 sections)  {full:8.2f} ms  ({full / naive:.1f}x the naive)")
    per_section = {}
    for name, reader in inspector.sections().items():
        per_section[name] = timed(
            lambda reader=reader, name=name: inspector._run(name, reader), rounds
        )
    print("  by section: " + ", ".join(f"{k} {v:.2f}" for k, v in per_section.items()))

    def scrape(*collectors: object) -> Callable[[], bytes]:
        registry = CollectorRegistry()
        for collector in REGISTRY._collector_to_names:  # the default process/platform/gc set
            registry.register(collector)
        for collector in collectors:
            registry.register(collector)  # type: ignore[arg-type]
        return lambda: generate_latest(registry)

    baseline = timed(scrape(), rounds)
    cached = timed(scrape(DatabaseCollector()), rounds)
    settings.DB_MONITOR_CACHE_SECONDS = 0
    uncached = timed(scrape(DatabaseCollector()), rounds)
    settings.DB_MONITOR_CACHE_SECONDS = 15
    system = timed(scrape(SystemCollector()), rounds)
    print("  scrape (generate_latest):")
    print(f"    default registry only            {baseline:8.3f} ms")
    print(f"    + DatabaseCollector, cached      {cached:8.3f} ms  ({cached / baseline:.1f}x)")
    print(f"    + DatabaseCollector, every scrape {uncached:7.3f} ms  ({uncached / baseline:.1f}x)")
    print(f"    + SystemCollector                {system:8.3f} ms  ({system / baseline:.1f}x)")
    size = len(scrape(DatabaseCollector(), SystemCollector())())
    print(f"    exposition size with both        {size / 1024:8.1f} KiB")


def bench_sqlite(rounds: int) -> None:
    from tests.dbprobe import django_alias

    from helpdesk.monitoring.database.base import InspectorOptions
    from helpdesk.monitoring.database.sqlite import SQLiteInspector

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite3"
        db = sqlite3.connect(path)
        for i in range(TABLES):
            db.execute(f"CREATE TABLE bench_{i:03d} (id INTEGER PRIMARY KEY, body TEXT)")
            db.execute(f"CREATE INDEX bench_{i:03d}_body ON bench_{i:03d} (body)")
            insert = f"INSERT INTO bench_{i:03d} (body) VALUES (?)"  # noqa: S608
            db.executemany(insert, [(str(n) * 8,) for n in range(50)])
        db.commit()
        db.close()
        engine = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), "OPTIONS": {}}
        with django_alias("bench_sqlite", **engine) as alias:
            inspector = SQLiteInspector(alias, InspectorOptions())
            median = timed(inspector.inspect, rounds)
    print(f"SQLite {TABLES} tables: inspector refresh {median:.2f} ms (median of {rounds})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("HELPDESK_DATA_DIR", tempfile.mkdtemp(prefix="helpdesk-bench-"))
    have_postgresql = prepare_postgresql(url)
    os.environ["DATABASE_URL"] = url if have_postgresql else "sqlite:///:memory:"
    os.environ["DJANGO_SETTINGS_MODULE"] = "helpdesk.settings"
    import django

    django.setup()
    try:
        if have_postgresql:
            bench_postgresql(args.rounds)
        bench_sqlite(args.rounds)
    finally:
        if have_postgresql:
            from django.db import connections

            connections.close_all()
            drop_postgresql(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
