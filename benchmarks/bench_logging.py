"""Benchmark structured logging: formatter throughput and the per-request cost of the access log.

1. Formatter throughput (lines/s) on the same access-log record: the spec's %-format "JSON"
   formatter (fast, but broken by any quote or newline), Elastic's plain ecs-logging
   StdlibFormatter, and ours (ecs-logging + service fields + redaction + size caps).
2. Per-request cost of access logging: a request through RequestContextMiddleware and a
   trivial view, with and without AccessLogMiddleware, writing the real ECS line to the real
   handlers (stdout to /dev/null and the shared rotating app.log). Each iteration gets its own
   copy of the request, so per-request work (resolving the client IP) is counted as in
   production; the destinations take turns round by round.

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
from typing import Any

QUICK = "--quick" in sys.argv
ROUNDS = 3 if QUICK else 7
LINES = 3_000 if QUICK else 20_000
REQUESTS = 2_000 if QUICK else 10_000

QUERY = "page=2&token=abc123secret"
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
            "url.query": QUERY,
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
    print(f"Formatter throughput, one access-log record ({LINES} lines x {ROUNDS} rounds, median)")
    rates = {}
    for name, formatter in formatters.items():
        # Fresh records for every round, as each line is a new record.
        batches = iter([[access_record() for _ in range(LINES)] for _ in range(ROUNDS)])

        def work(formatter: logging.Formatter = formatter, batches: Any = batches) -> None:
            for record in next(batches):
                formatter.format(record)

        rates[name] = best_rate(work, LINES)
    base = rates["ecs-logging StdlibFormatter"]
    for name, rate in rates.items():
        print(f"  {name:<32} {rate:>10,.0f} lines/s  {1e6 / rate:6.1f} µs/line  x{rate / base:.2f}")


# (files, stdout, format) of each destination; None is the chain without the access log.
DESTINATIONS: dict[str, tuple[bool, bool, str] | None] = {
    "no access log": None,
    "access log -> stdout (JSON)": (False, True, "json"),
    "access log -> app.log (shared rotating)": (True, False, "json"),
    "access log -> stdout + app.log": (True, True, "json"),
    "access log -> console + app.log (make run)": (True, True, "console"),
}


class RequestLoop:
    """A request through RequestContextMiddleware and a trivial view, with or without the log.

    The view binds an organization to the request context, as the ticket views do, so the
    line carries ``labels.organization`` like a real one. Logging is configured as
    ``build_logging_config`` does it: stdout to /dev/null and/or the shared rotating app.log.
    """

    def __init__(self) -> None:
        import django
        from django.http import HttpRequest, HttpResponse
        from django.test import RequestFactory

        from helpdesk.lib.request_context import RequestContextMiddleware, bind
        from helpdesk.monitoring.logging.middleware import AccessLogMiddleware

        def view(request: HttpRequest) -> HttpResponse:
            bind(organization="acme")
            return HttpResponse(b"ok")

        django.setup()
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-logging-"))
        self.devnull = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
        self.request = RequestFactory().get(
            "/api/v1/tickets/?page=2", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) bench/1.0"
        )
        self.without = RequestContextMiddleware(view)  # type: ignore[arg-type]
        self.with_access = RequestContextMiddleware(AccessLogMiddleware(view))  # type: ignore[arg-type]
        self.chain = self.without

    def configure(self, destination: tuple[bool, bool, str] | None) -> None:
        from helpdesk.monitoring.logging.config import build_logging_config

        files, stdout, fmt = destination or (False, True, "json")
        logging.config.dictConfig(
            build_logging_config(
                fmt=fmt,
                service={"service.name": "helpdesk", "service.version": "0.1.0"},
                stream=self.devnull,
                stdout=stdout,
                files=files,
                log_dir=self.tmp,
            )
        )
        self.chain = self.without if destination is None else self.with_access

    def run(self, count: int) -> None:
        chain, request = self.chain, self.request
        for _ in range(count):
            # A new request object each time, as in production: nothing the previous
            # iteration cached on it (the resolved client IP) carries over.
            chain(copy.copy(request))

    def close(self) -> None:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        self.devnull.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def bench_requests() -> None:
    loop = RequestLoop()
    print(
        f"\nPer-request cost of the access log ({REQUESTS} requests x {ROUNDS} rounds, "
        "destinations interleaved, median)"
    )
    samples: dict[str, list[float]] = {label: [] for label in DESTINATIONS}
    for _ in range(ROUNDS):
        for label, destination in DESTINATIONS.items():
            loop.configure(destination)
            start = time.perf_counter()
            loop.run(REQUESTS)
            samples[label].append((time.perf_counter() - start) / REQUESTS * 1e6)
    size = sum(p.stat().st_size for p in loop.tmp.glob("app.log*") if p.suffix != ".lock")
    loop.close()
    base = statistics.median(samples["no access log"])
    for label, values in samples.items():
        median = statistics.median(values)
        added = "" if label == "no access log" else f"  (+{median - base:.1f} µs)"
        print(f"  {label:<44} {median:7.1f} µs/request{added}")
    print(f"  ({size / 1e6:.1f} MB of ECS JSON in app.log and its backups)")


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
