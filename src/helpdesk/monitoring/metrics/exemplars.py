"""Exemplars of the request-duration histogram under several worker processes.

prometheus_client keeps exemplars in single-process mode only: a multiprocess value ignores
``observe(..., exemplar)`` (the files hold numbers, not labels). So in multiprocess mode each
process keeps the newest exemplar of each bucket series in memory and, when it replaces one,
rewrites its own ``exemplars_<pid>.json`` in the folder. A series' exemplar is replaced at most
every REFRESH_SECONDS, which bounds the rewrites of a busy worker to a few per second. The
OpenMetrics exposition (``attach``) puts on each bucket the newest exemplar any live worker
wrote; ``multiprocess.worker_exited`` removes a dead worker's file.

So an exemplar may be up to REFRESH_SECONDS older than the newest sampled request of its bucket:
it is an example, which is all an exemplar promises.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from helpdesk.monitoring.metrics.instruments import DURATION_BUCKETS
from helpdesk.monitoring.metrics.multiprocess import EXEMPLARS_FILE

logger = logging.getLogger(__name__)

FAMILY = "http_server_request_duration_seconds"
REFRESH_SECONDS = 5.0
_LABELS = ("http_request_method", "http_route", "http_response_status_code")
_BOUNDS = [(bound, floatToGoString(bound)) for bound in DURATION_BUCKETS]

_lock = threading.Lock()
_mine: dict[str, list[Any]] = {}


def _bucket(value: float) -> str:
    """Return the ``le`` of the bucket ``value`` falls in (its smallest upper bound)."""
    for bound, label in _BOUNDS:
        if value <= bound:
            return label
    return "+Inf"


def _file(path: str, pid: int) -> str:
    return os.path.join(path, EXEMPLARS_FILE.format(pid=pid))


def record(labels: tuple[str, str, str], value: float, trace_id: str, path: str) -> None:
    """Keep ``trace_id`` as the exemplar of the bucket ``value`` falls in (see the docstring).

    ``labels`` are the histogram's (method, route, status); ``path`` the multiprocess folder.
    """
    key = json.dumps([*labels, _bucket(value)])
    now = time.time()
    with _lock:
        old = _mine.get(key)
        if old is not None and now - old[2] < REFRESH_SECONDS:
            return
        _mine[key] = [trace_id, value, now]
        body = json.dumps(_mine)
        # Written under the lock: two threads of one worker never interleave their files.
        pid = os.getpid()
        temporary = os.path.join(path, f".exemplars_{pid}.tmp")
        try:
            with open(temporary, "w") as out:
                out.write(body)
            os.replace(temporary, _file(path, pid))
        except OSError:
            logger.warning("could not write the exemplars of worker %s", pid, exc_info=True)


def _read(path: str) -> dict[tuple[str, ...], list[Any]]:
    newest: dict[tuple[str, ...], list[Any]] = {}
    for name in glob.glob(os.path.join(path, EXEMPLARS_FILE.format(pid="*"))):
        try:
            with open(name) as source:
                stored = json.load(source)
        except (OSError, ValueError):
            continue  # a worker that died while writing: its other files still count
        for key, exemplar in stored.items():
            series = tuple(json.loads(key))
            if series not in newest or newest[series][2] < exemplar[2]:
                newest[series] = exemplar
    return newest


def attach(families: Iterable[Metric], path: str) -> None:
    """Put the newest stored exemplar on each request-duration bucket of ``families``."""
    stored = _read(path)
    if not stored:
        return
    for family in families:
        if family.name != FAMILY:
            continue
        for index, sample in enumerate(family.samples):
            if not sample.name.endswith("_bucket"):
                continue
            key = tuple(sample.labels.get(name, "") for name in (*_LABELS, "le"))
            found = stored.get(key)
            if found is not None:
                exemplar = Exemplar({"trace_id": found[0]}, found[1], found[2])
                family.samples[index] = sample._replace(exemplar=exemplar)
