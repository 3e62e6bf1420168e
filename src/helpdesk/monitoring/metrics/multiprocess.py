"""prometheus_client multiprocess mode: the folder's lifecycle and the dead workers' archive.

Every gunicorn worker writes its samples to ``<type>_<pid>.db`` files in the folder named by
PROMETHEUS_MULTIPROC_DIR, and prometheus_client's ``MultiProcessCollector`` merges every file at
every scrape. What the library lacks, and this module adds:

- one definition of the folder (``folder``) and its preparation at server start (``prepare``);
- an archive of dead workers: without it a server whose workers restart (max_requests,
  timeouts, OOM kills) keeps every dead worker's files and gets slower to scrape with each
  restart. ``compact(path, pids)`` merges the counter, histogram and summary files of dead
  workers (through the library's public ``MultiProcessCollector.merge``) into
  ``archive.json`` and removes them; gunicorn's ``child_exit`` hook calls it, through
  ``worker_exited``, with the pid it just reaped. It never runs at scrape time: a pid that
  looks dead from the web container may be a live process in another PID namespace sharing
  the folder, and compacting a live file loses its writes.
- ``MultiProcessReader``, the collector to scrape with: the library's collector over the live
  files plus the archive.

``archive.json`` is this module's own format: a JSON list of metric families, each
``{"name", "documentation", "type", "samples": [[sample name, {labels}, value], ...]}``, with
the samples as ``MultiProcessCollector`` yields them (histogram buckets cumulative, counters
named ``*_total``). Those values add up sample by sample, so the archive and the live files
are merged by adding values with the same sample name and labels.

Readers take a shared lock and compaction an exclusive one on ``.lock`` in the folder, so a
scrape never sees a dead worker's values both in the archive and in its own file. This module
imports no Django (gunicorn's master process uses it) and imports prometheus_client only inside
functions: gunicorn's configuration imports it to name the folder before any process imports
the library, which picks its value store (files or memory) at import from PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import fcntl
import gc
import glob
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.samples import Sample

logger = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
# A worker's request-duration exemplars (helpdesk.monitoring.metrics.exemplars).
EXEMPLARS_FILE = "exemplars_{pid}.json"
ARCHIVE = "archive.json"
_LOCK = ".lock"
_COMPACTED_TYPES = ("counter", "histogram", "summary")


def folder(data_dir: str | os.PathLike[str]) -> str:
    """Return the multiprocess folder: PROMETHEUS_MULTIPROC_DIR, else its default in the data dir.

    A server's processes share it through PROMETHEUS_MULTIPROC_DIR, which must be set before
    they import prometheus_client (``helpdesk start``, gunicorn's configuration).
    """
    return os.environ.get(ENV) or str(Path(data_dir) / "prometheus-multiproc")


def prepare(path: str, wipe: bool) -> str:
    """Create the folder (emptied first when ``wipe``) and return it.

    Wipe only when no process of the previous run can still write there (server start): stale
    files would otherwise add the last run's counts to this one's.
    """
    os.makedirs(path, exist_ok=True)
    if wipe:
        # Empty it rather than remove it: it may be a mount point (a tmpfs of its own).
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    return path


@contextmanager
def _locked(path: str, exclusive: bool) -> Iterator[None]:
    fd = os.open(os.path.join(path, _LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_archive(path: str) -> list[Metric]:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.samples import Sample

    try:
        with open(os.path.join(path, ARCHIVE), encoding="utf-8") as fh:
            stored = json.load(fh)
    except FileNotFoundError:
        return []
    families = []
    for family in stored:
        metric = Metric(family["name"], family["documentation"], family["type"])
        metric.samples = [Sample(name, labels, value) for name, labels, value in family["samples"]]
        families.append(metric)
    return families


def _key(sample: Sample) -> tuple[str, tuple[tuple[str, str], ...]]:
    return sample.name, tuple(sorted(sample.labels.items()))


# The parsed archive of each folder, by the archive file's identity: it only changes when a
# worker dies, so scrapes in between reuse it. {path: (stat key, {family: (meta, samples)})}
_archives: dict[str, tuple[tuple[int, int, int], dict[str, tuple[Metric, dict[Any, Sample]]]]] = {}


def _cached_archive(path: str) -> dict[str, tuple[Metric, dict[Any, Sample]]]:
    """Return the archive's families, each with its samples by (name, labels) (call locked)."""
    try:
        stat = os.stat(os.path.join(path, ARCHIVE))
    except FileNotFoundError:
        return {}
    identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _archives.get(path)
    if cached is None or cached[0] != identity:
        families = {m.name: (m, {_key(s): s for s in m.samples}) for m in _read_archive(path)}
        cached = _archives[path] = (identity, families)
    return cached[1]


def _write_archive(path: str, families: Iterable[Metric]) -> None:
    stored = [
        {
            "name": family.name,
            "documentation": family.documentation,
            "type": family.type,
            "samples": [[s.name, s.labels, s.value] for s in family.samples],
        }
        for family in families
    ]
    target = os.path.join(path, ARCHIVE)
    with open(target + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(stored, fh)
    os.replace(target + ".tmp", target)


def _add(into: dict[str, Metric], families: Iterable[Metric]) -> None:
    """Add ``families``' samples to ``into``'s, by sample name and labels (new ones appended)."""
    for family in families:
        mine = into.get(family.name)
        if mine is None:
            into[family.name] = family
            continue
        index = {(s.name, tuple(sorted(s.labels.items()))): i for i, s in enumerate(mine.samples)}
        for sample in family.samples:
            i = index.get((sample.name, tuple(sorted(sample.labels.items()))))
            if i is None:
                mine.samples.append(sample)
            else:
                old = mine.samples[i]
                mine.samples[i] = old._replace(value=old.value + sample.value)


class MultiProcessReader:
    """A collector of the folder: prometheus_client's ``MultiProcessCollector`` + the archive.

    Register it on a fresh ``CollectorRegistry`` (``registry.register(reader)``).
    """

    def __init__(self, path: str) -> None:
        if not os.path.isdir(path):
            raise ValueError(f"multiprocess folder {path!r} does not exist")
        self.path = path

    def collect(self) -> Iterator[Metric]:
        """Yield the merged families of the live workers' files and the archive."""
        # A read builds a few objects per series (about 20 000 at 3 500 series), all alive
        # until it ends: collections they trigger meanwhile find no garbage, and a full one
        # walks every one of them. Pausing the collector made a scrape 5-10 % cheaper
        # (docs/benchmarks.md, "Scrape time").
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            families = self._merged()
        finally:
            if was_enabled:
                gc.enable()
        return iter(families)

    def _merged(self) -> list[Metric]:
        from prometheus_client.metrics_core import Metric
        from prometheus_client.multiprocess import MultiProcessCollector

        with _locked(self.path, exclusive=False):
            files = glob.glob(os.path.join(self.path, "*.db"))
            live = list(MultiProcessCollector.merge(files, accumulate=True))
            archive = _cached_archive(self.path)
        for family in live:
            archived = archive.get(family.name)
            if archived is not None:
                # The archive's samples, plus the live values; new label sets appended.
                samples = dict(archived[1])
                for sample in family.samples:
                    old = samples.get(key := _key(sample))
                    samples[key] = (
                        sample if old is None else old._replace(value=old.value + sample.value)
                    )
                family.samples = list(samples.values())
        names = {family.name for family in live}
        for name, (meta, samples) in archive.items():
            if name not in names:
                metric = Metric(meta.name, meta.documentation, meta.type)
                metric.samples = list(samples.values())
                live.append(metric)
        return live


def compact(path: str, pids: Iterable[int]) -> int:
    """Merge the counter/histogram/summary files of dead ``pids`` into the archive.

    Call only with pids known to be dead (gunicorn's child_exit); returns how many files were
    merged. Reading the folder gives the same values as before (up to the order of
    floating-point additions).
    """
    from prometheus_client.multiprocess import MultiProcessCollector

    pids = list(pids)
    with _locked(path, exclusive=True):
        dead = [
            name
            for typ in _COMPACTED_TYPES
            for pid in pids
            if os.path.exists(name := os.path.join(path, f"{typ}_{pid}.db"))
        ]
        if not dead:
            return 0
        families = {m.name: m for m in _read_archive(path)}
        _add(families, MultiProcessCollector.merge(dead, accumulate=True))
        _write_archive(path, families.values())
        for name in dead:
            os.unlink(name)
    return len(dead)


def worker_exited(pid: int, path: str | None = None) -> None:
    """Do the bookkeeping for a dead worker: drop its live gauges and exemplars, compact its
    counters."""
    from prometheus_client.multiprocess import mark_process_dead

    path = path or os.environ.get(ENV)
    if not path or not os.path.isdir(path):
        return
    mark_process_dead(pid, path)
    with suppress(FileNotFoundError):
        os.unlink(os.path.join(path, EXEMPLARS_FILE.format(pid=pid)))
    try:
        compact(path, [pid])
    except Exception:
        # Compaction is an optimisation: the files stay readable as they are.
        logger.warning("could not compact the metrics of worker %s", pid, exc_info=True)
