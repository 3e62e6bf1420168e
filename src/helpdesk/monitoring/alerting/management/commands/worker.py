"""``helpdesk worker``: run the periodic jobs (evaluator, outbox delivery, heartbeat)."""

from __future__ import annotations

import gc
import logging
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from helpdesk.monitoring.alerting import channels, delivery, rules, services, spool
from helpdesk.monitoring.alerting.evaluator import Evaluator
from helpdesk.monitoring.alerting.worker import Job, Worker
from helpdesk.monitoring.probes import runner as probe_runner
from helpdesk.monitoring.tracing import setup as tracing

logger = logging.getLogger(__name__)


def build_worker(evaluate: bool = True, deliver: bool = True, delivery_batch: int = 100) -> Worker:
    """Return a worker with the standard jobs."""
    jobs: list[Job] = []

    def sync() -> object:
        return {"channels": len(channels.sync_from_settings())}

    jobs.append(Job("channels", 60.0, sync))
    if evaluate:
        evaluator = Evaluator(rules.default_rules(), rules.default_sink())

        def evaluate_job() -> object:
            try:
                spool.reconcile()
            except DatabaseError:
                logger.debug("spool kept: the database is still down")
            return evaluator.evaluate()

        jobs.append(Job("evaluate", settings.ALERT_EVALUATION_INTERVAL_SECONDS, evaluate_job))
        jobs.append(Job("schedule", settings.ALERT_EVALUATION_INTERVAL_SECONDS, services.schedule))
    if deliver:
        jobs.append(
            Job(
                "deliver",
                settings.WORKER_DELIVERY_INTERVAL_SECONDS,
                lambda: delivery.deliver_due(limit=delivery_batch),
            )
        )
    # The security package's jobs: the TLS certificate probe (when hosts are configured) and
    # the daily retention purge of security events.
    from helpdesk.monitoring.security.models import purge_expired_events
    from helpdesk.monitoring.security.tls import probe_configured

    # The synthetic probes (the SLOs' embedded HTTP SLIs read the metrics history, below).
    if settings.PROBE_CHECKS:
        # First run one interval in: the web server started with the worker may still boot.
        first = time.monotonic() + settings.PROBE_INTERVAL_SECONDS
        jobs.append(
            Job("probes", settings.PROBE_INTERVAL_SECONDS, probe_runner.run_configured, first)
        )
    # The status page's uptime bars: one sample a minute of each public component's state.
    from helpdesk.monitoring.probes import uptime

    jobs.append(Job("uptime", uptime.SAMPLE_SECONDS, uptime.record))
    if settings.SECURITY_TLS_HOSTS:
        jobs.append(Job("tls-check", settings.SECURITY_TLS_INTERVAL_SECONDS, probe_configured))
    jobs.append(Job("security-purge", 24 * 3600.0, purge_expired_events))
    # Error tracking's daily retention purge.
    from helpdesk.monitoring.errors.retention import purge_expired

    jobs.append(Job("errors-purge", 24 * 3600.0, purge_expired))
    # The embedded metrics history (not needed when Prometheus keeps the history).
    if not settings.PROMETHEUS_URL:
        from helpdesk.monitoring.history.sampler import Sampler

        jobs.append(Job("history", settings.HISTORY_SAMPLE_SECONDS, Sampler().sample))
    worker = Worker(jobs)
    worker.jobs.append(Job("heartbeat", 5.0, worker.heartbeat))
    return worker


class Command(BaseCommand):
    help = "Run the background jobs: alert evaluation, notification delivery, heartbeat."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")
        parser.add_argument(
            "--no-evaluate", action="store_true", help="Deliver only (no rule evaluation)."
        )
        parser.add_argument(
            "--no-deliver", action="store_true", help="Evaluate only (no outbox delivery)."
        )
        parser.add_argument("--batch", type=int, default=100, help="Rows per delivery round.")

    def handle(self, *args: Any, **options: Any) -> None:
        # Each job becomes a trace of its own (no-op unless tracing is enabled).
        tracing.setup("worker")
        worker = build_worker(
            evaluate=not options["no_evaluate"],
            deliver=not options["no_deliver"],
            delivery_batch=options["batch"],
        )
        if options["once"]:
            worker.run_once()
            return

        def stop(signum: int, frame: object) -> None:
            logger.info("worker got signal %d: finishing the current job", signum)
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # What start-up loaded (Django, the app, the jobs) lives as long as the process: frozen,
        # it is out of the garbage collector's sight. Each full collection walked all of it,
        # which cost the history sample half its CPU (docs/benchmarks.md, "Metrics history").
        gc.freeze()
        worker.run()
