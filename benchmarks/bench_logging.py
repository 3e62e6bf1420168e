"""Benchmark structured logging: formatter throughput and the per-request cost of the access log.

1. Formatter throughput (lines/s) on the same access-log record: the spec's %-format "JSON"
   formatter (fast, but broken by any quote or newline), Elastic's plain ecs-logging
   StdlibFormatter, and ours (ecs-logging + service fields + redaction + size caps).
2. Per-request cost of access logging: a request through RequestContextMiddleware and a
   trivial view, with and without AccessLogMiddleware, writing the real ECS line to the real
   handlers (stdout to /dev/null and the shared rotating app.log). Each iteration gets its own
   copy of the request, so per-request work (resolving the client IP) is counted as in
   production. Goal: ≤ 30 µs per request.

Run: .venv/bin/python benchmarks/bench_logging.py [--quick]
"""

from __future__ import annotations

import copy
import io
import logging
import logging.config
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

QUICK = "--quick" in sys.argv
ROUNDS = 3 if QUICK else 7
LINES = 3_000 if QUICK else 20_000
REQUESTS = 2_000 if QUICK else 10_000

SPEC_FORMAT = (
    '{"timestamp": "%(asctime)s", "level": "%(levelname)s", "module": "%(module)s", '
    '"message": "%(message)s"}'
)


def best_rate(work: Callable[[], None], count: int) -> float:
    """Return the median of ROUNDS rates (operations per second) of ``work`` (count ops)."""
    rates = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        work()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def access_record() -> logging.LogRecord:
    record = logging.LogRecord(
        "helpdesk.access",
        logging.INFO,
        __file__,
        1,
        "%s %s %s",
        ("GET", "/api/v1/tickets/", 200),
        None,
    )
    record.__dict__.update(
        {
            "event.kind": "event",
            "event.category": ["web"],
            "event.type": ["access"],
            "event.outcome": "success",
            "event.duration": 1_234_567,
            "http.response.status_code": 200,
            "http.response.body.bytes": 5120,
            "http.version": "1.1",
            "url.query": "page=2&token=abc123secret",
            "http.request.id": "3fdc2fc0e35244269b6d058ca18fae1c",
            "http.request.method": "GET",
            "url.path": "/api/v1/tickets/",
            "client.ip": "203.0.113.7",
            "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
            "user.id": "42",
            "event.dataset": "helpdesk.access",
        }
    )
    return record


def bench_formatters() -> None:
    import ecs_logging

    from helpdesk.monitoring.logging.formatters import ECSFormatter

    service = {"service.name": "helpdesk", "service.version": "0.1.0", "service.environment": "x"}
    formatters: dict[str, logging.Formatter] = {
        "spec %-format JSON": logging.Formatter(SPEC_FORMAT),
        "ecs-logging StdlibFormatter": ecs_logging.StdlibFormatter(extra=service),
        "ours (ECS + redaction + caps)": ECSFormatter(service=service),
    }
    # A fresh record per line: formatters may cache the text of the record they saw last.
    records = [access_record() for _ in range(LINES)]
    print(f"Formatter throughput, one access-log record ({LINES} lines x {ROUNDS} rounds, median)")
    rates = {}
    for name, formatter in formatters.items():

        def work(formatter: logging.Formatter = formatter) -> None:
            for record in records:
                formatter.format(record)

        rates[name] = best_rate(work, LINES)
    base = rates["ecs-logging StdlibFormatter"]
    for name, rate in rates.items():
        print(f"  {name:<32} {rate:>10,.0f} lines/s  {1e6 / rate:6.1f} µs/line  x{rate / base:.2f}")


def bench_requests() -> None:
    import django
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory

    from helpdesk.lib.request_context import RequestContextMiddleware
    from helpdesk.monitoring.logging.config import build_logging_config
    from helpdesk.monitoring.logging.middleware import AccessLogMiddleware

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"ok")

    tmp = Path(tempfile.mkdtemp(prefix="bench-logging-"))
    devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the whole run
    django.setup()
    factory = RequestFactory()
    request = factory.get("/api/v1/tickets/?page=2", HTTP_USER_AGENT="bench/1.0")

    def configure(files: bool, stdout: bool) -> None:
        logging.config.dictConfig(
            build_logging_config(
                fmt="json",
                service={"service.name": "helpdesk"},
                stream=devnull,
                stdout=stdout,
                files=files,
                log_dir=tmp,
            )
        )

    without = RequestContextMiddleware(view)  # type: ignore[arg-type]
    with_access = RequestContextMiddleware(AccessLogMiddleware(view))  # type: ignore[arg-type]

    def run(chain: Callable[[HttpRequest], HttpResponse]) -> float:
        def work() -> None:
            for _ in range(REQUESTS):
                # A new request object each time, as in production: nothing the previous
                # iteration cached on it (the resolved client IP) carries over.
                chain(copy.copy(request))

        return best_rate(work, REQUESTS)

    print(f"\nPer-request cost of the access log ({REQUESTS} requests x {ROUNDS} rounds, median)")
    configure(files=False, stdout=True)
    base = run(without)
    print(f"  {'no access log':<40} {1e6 / base:7.1f} µs/request")
    for label, files, stdout in (
        ("access log -> stdout (JSON)", False, True),
        ("access log -> app.log (shared rotating)", True, False),
        ("access log -> stdout + app.log", True, True),
    ):
        configure(files=files, stdout=stdout)
        rate = run(with_access)
        extra = 1e6 / rate - 1e6 / base
        print(f"  {label:<40} {1e6 / rate:7.1f} µs/request  (+{extra:.1f} µs)")
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    devnull.close()
    size = sum(p.stat().st_size for p in tmp.glob("app.log*"))
    print(f"  ({size / 1e6:.1f} MB of ECS JSON in app.log and its backups)")
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    data_dir = tempfile.mkdtemp(prefix="bench-data-")
    os.environ.setdefault("HELPDESK_DATA_DIR", data_dir)
    os.environ.setdefault("LOG_FILES", "0")
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)
    bench_formatters()
    bench_requests()
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
