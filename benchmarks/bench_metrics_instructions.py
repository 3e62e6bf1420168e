"""Count the instructions the metrics instrumentation adds per request (deterministic).

bench_metrics.py measures CPU time, which on a shared 2-core machine scatters far more than
the few microseconds at stake. Valgrind's callgrind counts instructions instead: the same
binary, inputs and environment give the same count whatever else the machine is doing. Each
configuration runs in its own process under callgrind with instrumentation off; after setup
and warm-up the process switches counting on (``callgrind_control -i on``), serves N requests,
and switches it off, so only the request loop is counted.

Configurations as in bench_metrics.py: (a) no metrics instrumentation, (b) django-prometheus
2.5's middleware pair, (c) ours; all with the product's other middlewares.

Run: .venv/bin/python benchmarks/bench_metrics_instructions.py [--requests N]
(needs valgrind; ~1 minute per configuration).
"""

from __future__ import annotations

import sys

import callgrind

CONFIGS = ("(a) none", "(b) django-prometheus", "(c) ours")
CASES = ("trivial view", "ticket list")


def child(config: str, case: str, count: int) -> None:
    """Serve ``count`` requests of ``case`` with ``config``, counting only that loop."""
    sys.argv = [sys.argv[0]]  # bench_metrics reads its own flags from argv
    import bench_metrics as bm

    bm.setup_django()
    from django.conf import settings

    ours = list(settings.MIDDLEWARE)
    metrics = "helpdesk.monitoring.metrics.middleware.MetricsMiddleware"
    plain = [m for m in ours if m != metrics]
    middleware = {
        "(a) none": plain,
        "(b) django-prometheus": [
            "django_prometheus.middleware.PrometheusBeforeMiddleware",
            *plain,
            "django_prometheus.middleware.PrometheusAfterMiddleware",
        ],
        "(c) ours": ours,
    }[config]
    app = bm.handler(middleware)
    token = bm.seed()
    env = (
        bm.environ("/bench/trivial/")
        if case == "trivial view"
        else bm.environ("/api/v1/tickets/", token)
    )
    instrumented = config == "(c) ours"
    bm.run_requests(app, env, 200, instrumented)  # warm up: caches, label children, imports
    with callgrind.counting():
        bm.run_requests(app, env, count, instrumented)


def count_instructions(config: str, case: str, count: int) -> int:
    """Run one configuration under callgrind and return the instructions counted."""
    return callgrind.count(__file__, config, case, str(count))


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    if not callgrind.available():
        print("skipped: valgrind is not installed (Debian package valgrind)")
        return 0
    count = int(sys.argv[sys.argv.index("--requests") + 1]) if "--requests" in sys.argv else 500
    print(f"Instructions per request (callgrind, {count} requests after 200 warm-up, loop only)")
    for case in CASES:
        counts = {config: count_instructions(config, case, count) / count for config in CONFIGS}
        base = counts["(a) none"]
        print(f"  {case}")
        for config, per_request in counts.items():
            extra = per_request - base
            share = extra / base
            print(f"    {config:24} {per_request:12,.0f} instr  {extra:+11,.0f} ({share:+6.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
