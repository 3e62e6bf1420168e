"""Benchmark request metrics overhead and /metrics scrape time.

1. CPU per request (time.process_time) through Django's WSGI handler, in one process, of a
   trivial view and of the ticket list (an authenticated API call, 25 tickets a page), with
   (a) no metrics instrumentation, (b) django-prometheus 2.5's middleware pair, (c) ours. All
   three run the product's other middlewares (request context, access log, health probe,
   security monitor); (a) and (b) run with Django's plain LocMemCache and without our query
   timer, so (c) - (a) is the whole cost of our instrumentation: middleware, query timer and
   cache counting. The three handlers live side by side and run in interleaved rounds; the
   median round is reported, with the ratio to (a), and the median over rounds of each
   round's ratio to (a) (paired, which cancels the machine's load changing between rounds).
   Goals: (c) ≤ 5 % over (a), and cheaper than (b).
2. /metrics render time at 1 k and 10 k series: single process (prometheus_client's
   generate_latest, which /metrics uses then) and multiprocess with 4 live workers after 100
   worker restarts (files written in prometheus_client's format), prometheus_client's
   MultiProcessCollector + generate_latest against ours (compaction at worker exit +
   MultiProcessReader). Goal: ≤ 50 ms at 10 k series.

Run: .venv/bin/python benchmarks/bench_metrics.py [--quick] [--requests-only|--scrapes-only]
"""

from __future__ import annotations

import io
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
ROUNDS = 5 if QUICK else 15
REQUESTS = 300 if QUICK else 2_000
LIST_REQUESTS = 50 if QUICK else 300
SCRAPES = 3 if QUICK else 7
RESTARTS = 100
LIVE_WORKERS = 4

_tmp = tempfile.mkdtemp(prefix="bench-metrics-")
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
os.environ["HELPDESK_DATA_DIR"] = _tmp
os.environ.setdefault("DATABASE_URL", f"sqlite:///{_tmp}/bench.sqlite3")
os.environ.pop("REDIS_URL", None)
os.environ["HELPDESK_ENV"] = "test"
os.environ["ACCESS_LOG"] = "0"
os.environ["LOG_FILES"] = "0"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ["DJANGO_SETTINGS_MODULE"] = "helpdesk.settings"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import django  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

urlpatterns: list[Any] = []


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def setup_django() -> None:
    django.setup()
    from django.conf import settings

    from helpdesk.urls import urlpatterns as product

    urlpatterns[:] = [path("bench/trivial/", trivial), *product]
    settings.ROOT_URLCONF = __name__


def handler(middleware: list[str]) -> Any:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    with override_settings(MIDDLEWARE=middleware):
        h = WSGIHandler()
    return h


def environ(path: str, token: str | None = None) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env


def _start_response(status: str, headers: list[tuple[str, str]]) -> None:
    assert status.startswith("200"), status


_caches: dict[str, Any] = {}  # "instrumented" and "plain" default cache backends


def instrument(on: bool) -> None:
    """Switch our query timer and cache counting on or off for this thread's next requests."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.db import connection
    from django.db.backends.signals import connection_created

    from helpdesk.monitoring.metrics.timing import QueryTimer, install

    uid = "helpdesk.metrics.query_timer"  # as helpdesk.monitoring.metrics.apps connects it
    wrappers = connection.execute_wrappers
    wrappers[:] = [w for w in wrappers if not isinstance(w, QueryTimer)]
    if not _caches:
        _caches.update(instrumented=caches["default"], plain=LocMemCache("bench-plain", {}))
    if on:
        connection_created.connect(install, dispatch_uid=uid)
        install(connection)
    else:
        connection_created.disconnect(dispatch_uid=uid)
    caches["default"] = _caches["instrumented" if on else "plain"]


def run_requests(
    app: Any, env: dict[str, Any], count: int, instrumented: bool = True
) -> tuple[float, float]:
    """Return (CPU µs, wall µs) per request over ``count`` requests."""
    instrument(instrumented)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(count):
        env["wsgi.input"] = io.BytesIO(b"")
        response = app(dict(env), _start_response)
        b"".join(response)
        response.close()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / count * 1e6, wall / count * 1e6


def seed() -> str:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from helpdesk.accounts.models import ApiToken, Membership, Organization, Role
    from helpdesk.tickets import services

    call_command("migrate", verbosity=0)
    org = Organization.objects.create(name="Bench", slug="bench")
    agent = get_user_model().objects.create_user("agent", password="x" * 12)
    Membership.objects.create(user=agent, organization=org, role=Role.ADMIN)
    access = services.access_for(agent)
    for i in range(40):
        services.create_ticket(agent, access, organization=org, subject=f"Ticket {i}")
    _, raw = ApiToken.issue(agent)
    return raw


def bench_requests() -> None:
    from django.conf import settings

    ours = list(settings.MIDDLEWARE)
    metrics = "helpdesk.monitoring.metrics.middleware.MetricsMiddleware"
    plain = [m for m in ours if m != metrics]
    dp = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *plain,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    configs = {"(a) none": handler(plain), "(b) django-prometheus": handler(dp)}
    configs["(c) ours"] = handler(ours)
    token = seed()
    # The trivial view runs in more, shorter rounds: the same work, interleaved finer, so a
    # change of the machine's load hits the three configurations of a round alike.
    cases = [
        ("trivial view", environ("/bench/trivial/"), REQUESTS // 4, ROUNDS * 4),
        ("ticket list", environ("/api/v1/tickets/", token), LIST_REQUESTS, ROUNDS),
    ]
    for title, env, count, rounds in cases:
        for name, app in configs.items():
            run_requests(app, env, max(count // 10, 20), name == "(c) ours")  # warm up
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
        names = list(configs)
        for round_no in range(rounds):
            # Rotate the order so no configuration always runs first (or last) in a round.
            for name in names[round_no % 3 :] + names[: round_no % 3]:
                samples[name].append(run_requests(configs[name], env, count, name == "(c) ours"))
        base = statistics.median(cpu for cpu, _ in samples["(a) none"])
        best_base = min(cpu for cpu, _ in samples["(a) none"])
        print(
            f"{title}: CPU per request over {rounds} interleaved rounds x {count} "
            "(median round; best round; paired: median over rounds of the ratio to (a)'s "
            "run in the same round)"
        )
        for name, rows in samples.items():
            cpu = statistics.median(c for c, _ in rows)
            best = min(c for c, _ in rows)
            wall = statistics.median(w for _, w in rows)
            extra, best_extra = cpu - base, best - best_base
            share, best_share = extra / base * 100, best_extra / best_base * 100
            paired = statistics.median(
                (c / a - 1) * 100 for (c, _), (a, _) in zip(rows, samples["(a) none"], strict=True)
            )
            print(
                f"  {name:24} {cpu:8.1f} µs {extra:+7.1f} µs ({share:+5.1f} %);"
                f" best {best:7.1f} µs {best_extra:+6.1f} µs ({best_share:+5.1f} %);"
                f" paired {paired:+5.1f} %  {1e6 / wall:6.0f} req/s (1 thread)"
            )
    bench_middleware_alone()


def bench_middleware_alone() -> None:
    """Time each monitoring middleware around a constant view (best of repeats, µs)."""
    import timeit

    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve
    from django_prometheus.middleware import (
        PrometheusAfterMiddleware,
        PrometheusBeforeMiddleware,
    )

    from helpdesk.monitoring.metrics.middleware import MetricsMiddleware

    request = RequestFactory().get("/api/v1/tickets/")
    request.resolver_match = resolve("/api/v1/tickets/")

    def view(_: Any) -> HttpResponse:
        return HttpResponse(b"ok")

    chains = {
        "(a) none": view,
        "(b) django-prometheus": PrometheusBeforeMiddleware(PrometheusAfterMiddleware(view)),
        "(c) ours": MetricsMiddleware(view),
    }
    number = 2_000 if QUICK else 20_000
    times = {
        name: min(timeit.repeat(lambda c=chain: c(request), number=number, repeat=ROUNDS))
        / number
        * 1e6
        for name, chain in chains.items()
    }
    base = times["(a) none"]
    print(f"middleware alone around a constant view (best of {ROUNDS} x {number}, wall)")
    for name, value in times.items():
        print(f"  {name:24} {value:8.2f} µs  {value - base:+6.2f} µs")


def _series_plan(total: int) -> tuple[int, int]:
    """Split ``total`` series into counter label sets and histogram label sets (6 lines)."""
    counters = total // 5
    return counters, (total - counters) // 6


def write_worker_files(folder: str, pid: str, total: int) -> None:
    """Write one worker's files exactly as prometheus_client does (its MmapedDict, keys)."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    counters, histograms = _series_plan(total)
    counter = MmapedDict(os.path.join(folder, f"counter_{pid}.db"))
    for i in range(counters):
        key = mmap_key("bench_jobs", "bench_jobs_total", ["job"], [f"j{i}"], "Jobs.")
        counter.write_value(key, 1.0, 0.0)
    counter.close()
    histogram = MmapedDict(os.path.join(folder, f"histogram_{pid}.db"))
    for i in range(histograms):
        labels = ["route"], [f"r{i}"]
        doc = "Latency."
        histogram.write_value(mmap_key("bench_latency", "bench_latency_sum", *labels, doc), 0.5, 0)
        for le in ("0.1", "0.5", "1.0", "+Inf"):
            key = mmap_key(
                "bench_latency", "bench_latency_bucket", ["route", "le"], [f"r{i}", le], doc
            )
            histogram.write_value(key, 1.0 if le == "0.5" else 0.0, 0.0)
    histogram.close()
    gauge = MmapedDict(os.path.join(folder, f"gauge_livesum_{pid}.db"))
    gauge.write_value(mmap_key("bench_active", "bench_active", [], [], "Active."), 1.0, 0.0)
    gauge.close()


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """Return (first call ms, median of the next SCRAPES calls ms)."""
    start = time.perf_counter()
    work()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(SCRAPES):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times)


def bench_scrapes() -> None:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from helpdesk.monitoring.metrics.multiprocess import MultiProcessReader, compact

    print("scrape time (first scrape; median of the next ones)")
    for total in (1_000, 10_000):
        registry = CollectorRegistry()
        counters, histograms = _series_plan(total)
        c = Counter("bench_jobs", "Jobs.", ["job"], registry=registry)
        h = Histogram(
            "bench_latency", "Latency.", ["route"], buckets=(0.1, 0.5, 1.0), registry=registry
        )
        for i in range(counters):
            c.labels(f"j{i}").inc()
        for i in range(histograms):
            h.labels(f"r{i}").observe(0.3)
        _, median = timed(lambda r=registry: generate_latest(r))  # type: ignore[misc]
        print(f"  {total:>6} series, single process, generate_latest: {median:8.1f} ms")

        folder = tempfile.mkdtemp(prefix="bench-mp-", dir=_tmp)
        for n in range(RESTARTS):
            write_worker_files(folder, f"{100_000 + n}", total)
        for n in range(LIVE_WORKERS):
            write_worker_files(folder, f"{200_000 + n}", total)

        def theirs(f: str = folder) -> bytes:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=f)
            return generate_latest(registry)

        def ours(f: str = folder) -> bytes:
            return MultiProcessReader(f).render_text().encode()

        label = f"{LIVE_WORKERS} workers + {RESTARTS} restarts"
        t_first, t_median = timed(theirs)
        o_first, o_median = timed(ours)
        assert theirs() == ours()
        compact(folder, [100_000 + n for n in range(RESTARTS)])
        tc_first, tc_median = timed(theirs)
        oc_first, oc_median = timed(ours)
        assert theirs() == ours()
        print(f"  {total:>6} series, {label}:")
        rows = (
            ("prometheus_client, files as they pile up", t_median, t_first),
            ("our reader, no compaction", o_median, o_first),
            ("prometheus_client, compacted folder", tc_median, tc_first),
            ("ours: compacted + our reader", oc_median, oc_first),
        )
        for title, median, first in rows:
            print(f"    {title:42} {median:9.1f} ms (first {first:.1f})")
        print(f"    ours vs prometheus_client as files pile up: {t_median / oc_median:.0f}x faster")
        shutil.rmtree(folder)


def main() -> int:
    setup_django()
    try:
        if "--scrapes-only" not in sys.argv:
            bench_requests()
        if "--requests-only" not in sys.argv:
            bench_scrapes()
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
