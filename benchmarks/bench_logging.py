"""Benchmark structured logging: formatter throughput and the per-request cost of the access log.

1. Formatter throughput (lines/s) on the same access-log record: the spec's %-format "JSON"
   formatter (fast, but broken by any quote or newline), Elastic's plain ecs-logging
   StdlibFormatter, and ours (ecs-logging + service fields + redaction + size caps).
2. Per-request cost of access logging: a request through RequestContextMiddleware and a
   trivial view, with and without AccessLogMiddleware, writing the real ECS line to the real
   handlers (stdout to /dev/null and the shared rotating app.log). Each iteration gets its own
   copy of the request, so per-request work (resolving the client IP) is counted as in
   production; the destinations take turns round by round.

Both parts interleave what they compare round by round, so the load of a shared machine
changes alike for all; read the ratios.

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
from pathlib import Path

QUICK = "--quick" in sys.argv
ROUNDS = 5 if QUICK else 9
LINES = 2_000 if QUICK else 5_000
REQUESTS = 1_000 if QUICK else 3_000

QUERY = "page=2&token=abc123secret"
SPEC_FORMAT = (
    '{"timestamp": "%(asctime)s", "level": "%(levelname)s", "module": "%(module)s", '
    '"message": "%(message)s"}'
)


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
    print(
        f"Formatter throughput, one access-log record ({LINES} lines x {ROUNDS} rounds, "
        "formatters interleaved, median; ratio: median of each round's ratio to ecs-logging)"
    )
    seconds: dict[str, list[float]] = {name: [] for name in formatters}
    for _ in range(ROUNDS):
        for name, formatter in formatters.items():
            records = [access_record() for _ in range(LINES)]  # each line is a new record
            start = time.perf_counter()
            for record in records:
                formatter.format(record)
            seconds[name].append(time.perf_counter() - start)
    base = seconds["ecs-logging StdlibFormatter"]
    for name, times in seconds.items():
        per_line = statistics.median(times) / LINES * 1e6
        ratio = statistics.median(b / t for b, t in zip(base, times, strict=True))
        print(
            f"  {name:<32} {1e6 / per_line:>10,.0f} lines/s  {per_line:6.1f} µs/line  x{ratio:.2f}"
        )


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
        from helpdesk.monitoring.logging.context import AccessLogMiddleware

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
