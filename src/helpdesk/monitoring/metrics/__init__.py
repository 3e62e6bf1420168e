"""Prometheus metrics: request/database/cache instruments, /metrics and scrape-time collectors.

Public entry points: ``middleware.MetricsMiddleware`` (in MIDDLEWARE right after the request
context), ``views.metrics_view`` (``/metrics``), ``cache.LocMemCache``/``cache.RedisCache``
(CACHES backends) and ``multiprocess`` (gunicorn hooks). docs/metrics.md lists every metric.
"""
