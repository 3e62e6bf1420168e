"""Health checks: liveness, readiness and the full report as ``application/health+json``.

- ``checks``: the ``HealthCheck`` base (one ``run()``), its exceptions and the built-in checks
  (database, migrations, cache, disk, worker heartbeat).
- ``runner``: runs the configured checks concurrently, each under a hard deadline, caches the
  report briefly with single-flight, and keeps the last results for other packages
  (``last_report()``: the metrics collector, the alerting evaluator).
- ``views`` / ``middleware``: ``GET /health/live``, ``/health/ready``, ``/health/``.
- ``cli``: ``helpdesk healthcheck [--ready] [--worker]`` for container health checks.

docs/health.md describes the endpoints, the payloads and the configuration.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)
