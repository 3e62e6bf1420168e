"""The background worker's health check: the worker writes heartbeats, the health package runs
this check like any other (``HEALTH_CHECKS``), so health never imports alerting."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from helpdesk.monitoring.alerting.worker import heartbeat_age
from helpdesk.monitoring.health.checks import HealthCheck, ServiceUnavailable, ServiceWarning, Value

logger = logging.getLogger(__name__)


class WorkerHeartbeatCheck(HealthCheck):
    """Seconds since the background worker's last heartbeat.

    Meant as a non-critical check: without a worker, alert notifications wait but requests are
    served, so a missing (never started) or stale heartbeat warns and never fails readiness.
    With ``hostname`` only that host's workers count (``helpdesk healthcheck --worker`` passes
    its own, so each container checks its own worker).
    """

    name = "worker"
    component = "worker"
    measurement = "heartbeatAge"
    unit = "s"

    def __init__(self, hostname: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hostname = hostname

    def run(self) -> Value:
        try:
            age = heartbeat_age(hostname=self.hostname)
        except DatabaseError as error:
            raise ServiceUnavailable("database unavailable") from error
        if age is None:
            where = "yet" if self.hostname is None else "from this host"
            raise ServiceWarning(f"no worker heartbeat {where}")
        age = round(age, 1)
        if age > settings.WORKER_HEARTBEAT_STALE_SECONDS:
            raise ServiceWarning("worker heartbeat is stale", age)
        return age
