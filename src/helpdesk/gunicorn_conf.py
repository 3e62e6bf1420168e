"""gunicorn settings, all from the environment (PORT, HOST, WEB_CONCURRENCY, WEB_THREADS)."""

from __future__ import annotations

import gc
import os
from typing import Any

_production = os.environ.get("HELPDESK_ENV", "development").lower() == "production"

bind = f"{os.environ.get('HOST') or ('0.0.0.0' if _production else '127.0.0.1')}:{os.environ.get('PORT') or '8000'}"  # noqa: S104,E501
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
timeout = int(os.environ.get("WEB_TIMEOUT") or 30)
graceful_timeout = 10
keepalive = 5
# Request line and header limits refuse oversized requests before Django sees them.
limit_request_line = 8190
limit_request_fields = 100
# The application writes the access log (one ECS line per request, with the request id and
# user); gunicorn's own lines go through the same LOGGING config, so they are ECS JSON too.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def _logconfig() -> dict[str, object]:
    from helpdesk.settings import LOGGING

    return LOGGING


logconfig_dict = _logconfig()
proc_name = "helpdesk-web"
# A per-user control socket would collide between several instances on one host (tests, CI).
control_socket_disable = True


# Prometheus multiprocess mode (helpdesk.monitoring.metrics.multiprocess): the folder must be
# in the environment before any process imports prometheus_client, because the library picks
# its value store at import. The workers are forked from this process, so set it here first.
def _metrics_dir() -> str:
    from helpdesk.monitoring.metrics import multiprocess
    from helpdesk.settings import DATA_DIR

    path = multiprocess.folder(DATA_DIR)
    os.environ[multiprocess.ENV] = path
    return path


_METRICS_DIR = _metrics_dir()


def on_starting(server: Any) -> None:
    """Empty the metrics folder: counts of a previous run must not add to this one."""
    from helpdesk.monitoring.metrics import multiprocess

    # `helpdesk start` already emptied it before starting the worker process, which may have
    # written there since.
    wipe = os.environ.pop("HELPDESK_METRICS_DIR_PREPARED", "") != _METRICS_DIR
    multiprocess.prepare(_METRICS_DIR, wipe=wipe)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges and compact its counters into the archive."""
    from helpdesk.monitoring.metrics import multiprocess

    multiprocess.worker_exited(worker.pid, _METRICS_DIR)


def post_fork(server: Any, worker: Any) -> None:
    """Set tracing up in the new worker (docs/tracing.md).

    The exporter's thread and connections must belong to the process that exports, so this
    runs after the fork and before the worker loads the application (the Django
    instrumentation must add its middleware before Django builds the chain).
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    from helpdesk.monitoring.tracing.setup import setup

    setup("web")


def post_worker_init(worker: Any) -> None:
    """Freeze what loading the application created out of the garbage collector's sight.

    Django and the app's modules (about 110 000 objects) live as long as the worker. Each full
    collection walked all of them, a 33 ms pause of every thread of the worker that landed in
    the requests' p99 (docs/benchmarks.md).
    """
    gc.freeze()
