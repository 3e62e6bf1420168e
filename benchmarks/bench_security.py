"""Benchmark the security middleware: per-request cost of client-IP resolution + rate counter.

Three variants side by side in one run, on the same prebuilt requests (behind a trusted proxy,
so the resolver walks X-Forwarded-For) and a trivial view:

- no security middleware (the view alone),
- SecurityMonitorMiddleware with the local-memory cache,
- SecurityMonitorMiddleware with Redis (REDIS_URL, default redis://127.0.0.1:6379/9).

The rate limit is set out of reach so every request takes the normal path (one counter
operation, no event). Goal: ≤ 50 µs per request with local memory.

Run: .venv/bin/python benchmarks/bench_security.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

QUICK = "--quick" in sys.argv
ROUNDS = 3 if QUICK else 7
REQUESTS = 2_000 if QUICK else 10_000
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("HELPDESK_DATA_DIR", tempfile.mkdtemp(prefix="bench-security-"))
os.environ["LOG_LEVEL"] = "ERROR"

import django  # noqa: E402

django.setup()

from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402

from helpdesk.monitoring.security.middleware import SecurityMonitorMiddleware  # noqa: E402

RESPONSE = HttpResponse(b"{}", content_type="application/json")


def view(request: HttpRequest) -> HttpResponse:
    return RESPONSE


def requests() -> list[HttpRequest]:
    factory = RequestFactory()
    return [
        factory.get(
            "/api/v1/tickets/",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"198.51.{index % 200}.{index % 250}, 10.0.0.2",
            HTTP_USER_AGENT="python-requests/2.32.3",
        )
        for index in range(REQUESTS)
    ]


def per_request_us(handler: Callable[[HttpRequest], HttpResponse]) -> float:
    """Return the median over ROUNDS of the mean time per request, in microseconds."""
    samples = []
    for _ in range(ROUNDS):
        batch = requests()  # fresh objects: the client IP is cached on each request
        start = time.perf_counter()
        for request in batch:
            handler(request)
        samples.append((time.perf_counter() - start) / len(batch) * 1e6)
    return statistics.median(samples)


def main() -> int:
    common = {
        "TRUSTED_PROXIES": ["10.0.0.0/8"],
        "SECURITY_RATE_LIMIT_PER_MINUTE": 10**9,
        "SECURITY_THROTTLE_GROUPS": [],
    }
    results: dict[str, float] = {"no security middleware": per_request_us(view)}
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=locmem, **common):
        results["security middleware, local memory"] = per_request_us(
            SecurityMonitorMiddleware(view)
        )
    redis_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "bench",
        }
    }
    try:
        with override_settings(CACHES=redis_cache, **common):
            results["security middleware, Redis"] = per_request_us(SecurityMonitorMiddleware(view))
    except Exception as error:  # Redis not running: report what ran
        print(f"Redis variant skipped: {type(error).__name__}: {error}")
    base = results["no security middleware"]
    added = results["security middleware, local memory"] - base
    print(f"{REQUESTS} requests x {ROUNDS} rounds, median of per-request means")
    print(f"{'variant':40} {'µs/request':>11} {'added µs':>9} {'vs local memory':>16}")
    for name, value in results.items():
        ratio = (value - base) / added if added > 0 else float("nan")
        print(f"{name:40} {value:11.2f} {value - base:9.2f} {ratio:15.1f}x")
    print(f"goal ≤ 50 µs added with local memory: {'met' if added <= 50 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
