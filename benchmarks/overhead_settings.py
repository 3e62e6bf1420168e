"""Benchmark-only settings: the product's settings with its monitoring on, off or replaced.

Used by bench_overhead.py (BENCH_MONITORING in the environment). Not part of the product.

- ``full``: the product as shipped (metrics, access log, security middleware, instrumented
  cache backends, query timer).
- ``off``: every monitoring middleware removed, Django's own cache backends, no query timer
  (the metrics app, which installs it, left out).
- ``django-prometheus``: ``off`` plus django-prometheus' middleware pair, as its README sets it
  up.
"""

from __future__ import annotations

import os

from helpdesk.settings import *  # noqa: F403
from helpdesk.settings import CACHES, INSTALLED_APPS, MIDDLEWARE

MONITORING = os.environ.get("BENCH_MONITORING", "full")
_MONITORING_MIDDLEWARE = {
    "helpdesk.monitoring.metrics.middleware.MetricsMiddleware",
    "helpdesk.monitoring.logging.context.AccessLogMiddleware",
    "helpdesk.monitoring.security.middleware.SecurityMonitorMiddleware",
}
_PLAIN_CACHES = {
    "helpdesk.monitoring.metrics.cache.RedisCache": "django.core.cache.backends.redis.RedisCache",
    "helpdesk.monitoring.metrics.cache.LocMemCache": (
        "django.core.cache.backends.locmem.LocMemCache"
    ),
}

if MONITORING != "full":
    MIDDLEWARE = [m for m in MIDDLEWARE if m not in _MONITORING_MIDDLEWARE]
    INSTALLED_APPS = [a for a in INSTALLED_APPS if a != "helpdesk.monitoring.metrics"]
    CACHES = {
        alias: {
            **{k: v for k, v in config.items() if k != "ALIAS"},
            "BACKEND": _PLAIN_CACHES.get(config["BACKEND"], config["BACKEND"]),
        }
        for alias, config in CACHES.items()
    }
if MONITORING == "django-prometheus":
    INSTALLED_APPS = [*INSTALLED_APPS, "django_prometheus"]
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
