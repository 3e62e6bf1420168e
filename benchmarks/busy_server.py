"""The metrics a busy server accumulates, recorded by real processes through the product's own
instruments (the scrape and history benchmarks share it).

A busy server has served every API, health and metrics route of the URL configuration with
each (method, status) of COMBINATIONS, every admin page (one route label), and the database
and cache series. ``start_worker`` forks a process that records all of that and exits, as a
gunicorn worker that served everything and was then restarted; ``start_workers`` forks a
busy server's whole history. The caller's process must be in
prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR set before the library is
imported) with Django set up.
"""

from __future__ import annotations

import os

RESTARTS = 100
# (method, status) recorded per route: a page, an unauthenticated call, a missing object, a
# rejected write.
COMBINATIONS = (("GET", "200"), ("GET", "401"), ("GET", "404"), ("POST", "400"))


def routes() -> list[str]:
    """Return the route label of every URL pattern of the product."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from helpdesk.monitoring.metrics.instruments import ADMIN_ROUTE
    from helpdesk.monitoring.metrics.middleware import route_template

    found: list[str] = []

    def walk(resolver: URLResolver, prefix: str) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver) and pattern.app_name == "admin":
                found.append(ADMIN_ROUTE)  # the middleware's one label for every admin page
            elif isinstance(pattern, URLResolver):
                walk(pattern, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.append(route_template(prefix + str(pattern.pattern)))

    walk(get_resolver(), "")
    return sorted(set(found))


def record_everything(route_labels: list[str]) -> None:
    """Record, in this process, what a worker that served every route records."""
    from helpdesk.monitoring.metrics import instruments as i

    i.ACTIVE_REQUESTS.inc()
    for route in route_labels:
        for method, status in COMBINATIONS if not route.startswith("admin/") else [("GET", "200")]:
            i.REQUEST_DURATION.labels(method, route, status).observe(0.02)
            i.RESPONSE_SIZE.labels(method).observe(1_500)
    i.DB_DURATION.labels("default").observe(0.001)
    i.DB_QUERIES_PER_REQUEST.labels("default").observe(5)
    i.CACHE_HITS.labels("default").inc()
    i.CACHE_MISSES.labels("default").inc()
    i.ACTIVE_REQUESTS.dec()


def start_worker(route_labels: list[str]) -> int:
    """Fork a worker that records everything and exits; return its pid once it has."""
    pid = os.fork()
    if pid == 0:
        try:
            record_everything(route_labels)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return pid


def start_workers(route_labels: list[str], live: int) -> list[int]:
    """Fork RESTARTS workers that are then restarted and ``live`` that stay; return the pids
    of the restarted ones (for the caller to hand to ``multiprocess.worker_exited``)."""
    dead = [start_worker(route_labels) for _ in range(RESTARTS)]
    for _ in range(live):
        start_worker(route_labels)
    return dead
