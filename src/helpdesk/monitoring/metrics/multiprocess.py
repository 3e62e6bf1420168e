"""prometheus_client multiprocess mode, kept fast as worker restarts accumulate files.

Every gunicorn worker writes its samples to ``<type>_<pid>.db`` files in
PROMETHEUS_MULTIPROC_DIR. prometheus_client's ``MultiProcessCollector`` reads every file at
every scrape, so a server whose workers restart (max_requests, timeouts, OOM kills) gets slower
to scrape with each restart. Two things keep it flat:

- ``compact(path, pids)`` merges the counter/histogram/summary files of dead workers into one
  ``<type>_archive.db`` per type (same file format, so prometheus_client still reads the folder)
  and removes them; gunicorn's ``child_exit`` hook calls it with the pid it just reaped. It is
  not run at scrape time: a pid that looks dead from the web container may be a live process
  in another PID namespace sharing the folder, and compacting a live file loses its writes.
- ``MultiProcessReader`` reads the folder with the same merge rules as prometheus_client, but
  without building a ``Sample`` per value. It keeps a plan of the files' layout (which series
  sits at which offset, and the output lines with their label strings); while the layout is
  unchanged a scrape unpacks each file's values with one ``struct`` call, sums them into
  slots and formats the lines. Its output is byte-identical to ``generate_latest`` over a
  ``MultiProcessCollector`` (tests/test_metrics_multiprocess.py proves it).

Readers take a shared lock and compaction an exclusive one on ``.lock`` in the folder, so a
scrape never sees a dead worker's values both in the archive and in its own file. This module
imports no Django: gunicorn's master process uses it.
"""

from __future__ import annotations

import fcntl
import glob
import json
import logging
import os
import shutil
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

logger = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
DIRNAME = "prometheus-multiproc"
_LOCK = ".lock"
_COMPACTED_TYPES = ("counter", "histogram", "summary")
_INT = struct.Struct("i").unpack_from
_DOUBLES = struct.Struct("dd").unpack_from
_INF = float("inf")

# Parsed mmap keys and rendered label strings are kept across scrapes: series are few and
# stable (bounded labels), so after the first scrape reading is a dict lookup per value.
_KEYS: dict[bytes, tuple[str, str, tuple[tuple[str, str], ...], str, float | None]] = {}
_LABELS: dict[tuple[tuple[str, str], ...], str] = {}
_CACHE_LIMIT = 500_000


def default_dir(data_dir: str | os.PathLike[str]) -> str:
    """Return the multiprocess folder for a data dir: ``<data_dir>/prometheus-multiproc``."""
    return str(Path(data_dir) / DIRNAME)


def prepare_dir(path: str, wipe: bool) -> str:
    """Create the folder (emptied first when ``wipe``) and return it.

    Wipe only when no process of the previous run can still write there (server start): stale
    files would otherwise add the last run's counts to this one's.
    """
    if wipe and os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    return path


def configure_env(data_dir: str | os.PathLike[str], wipe: bool) -> str:
    """Set PROMETHEUS_MULTIPROC_DIR (unless already set) and prepare the folder.

    Must run before prometheus_client is imported by the server's processes: the library picks
    its value store (files or memory) at import time from this variable.
    """
    path = os.environ.get(ENV) or default_dir(data_dir)
    os.environ[ENV] = path
    return prepare_dir(path, wipe)


@contextmanager
def _locked(path: str, exclusive: bool) -> Iterator[None]:
    fd = os.open(os.path.join(path, _LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_file(filename: str) -> tuple[int, bytes]:
    """Return the file's inode and its used bytes."""
    with open(filename, "rb") as fh:
        inode = os.fstat(fh.fileno()).st_ino
        head = fh.read(4096)
        if len(head) < 8:
            return inode, b""
        used = _INT(head, 0)[0]
        if used > len(head):
            head += fh.read(used - len(head))
    return inode, head[:used]


class _File:
    """One metrics file as read for a scrape."""

    __slots__ = ("data", "inode", "name", "parts", "typ")

    def __init__(self, name: str, parts: list[str], inode: int, data: bytes) -> None:
        self.name = name
        self.parts = parts
        self.typ = parts[0]
        self.inode = inode
        self.data = data


def _entries(data: bytes) -> Iterator[tuple[bytes, float, float, int]]:
    """Yield (raw key, value, timestamp, value offset) of one file (format of MmapedDict)."""
    used = len(data)
    pos = 8
    while pos < used:
        length = _INT(data, pos)[0]
        if length + pos > used:
            raise RuntimeError("Read beyond file size detected, file is corrupted.")
        pos += 4
        key = data[pos : pos + length]
        pos += length + (8 - (length + 4) % 8)
        value, timestamp = _DOUBLES(data, pos)
        yield key, value, timestamp, pos
        pos += 16


def _parse_key(raw: bytes) -> tuple[str, str, tuple[tuple[str, str], ...], str, float | None]:
    parsed = _KEYS.get(raw)
    if parsed is None:
        if len(_KEYS) > _CACHE_LIMIT:
            _KEYS.clear()
        metric_name, name, labels, help_text = json.loads(raw.decode("utf-8"))
        le = float(labels.pop("le")) if "le" in labels else None
        parsed = (metric_name, name, tuple(sorted(labels.items())), help_text, le)
        _KEYS[raw] = parsed
    return parsed


def _escape(value: str) -> str:
    """Escape a label value as generate_latest does (backslash, newline, double quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _label_string(labels: tuple[tuple[str, str], ...]) -> str:
    text = _LABELS.get(labels)
    if text is None:
        if len(_LABELS) > _CACHE_LIMIT:
            _LABELS.clear()
        if labels:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels))
            text = "{" + inner + "}"
        else:
            text = ""
        _LABELS[labels] = text
    return text


class _Family:
    """One metric's merged samples, in prometheus_client's order."""

    __slots__ = ("buckets", "groups", "help", "mode", "name", "stamps", "typ")

    def __init__(self, name: str, help_text: str, typ: str) -> None:
        self.name = name
        self.help = help_text
        self.typ = typ
        self.mode = ""
        # labels -> {sample name: value}; dict order is the output order.
        self.groups: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
        self.buckets: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
        self.stamps: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}


def _header(family: _Family) -> str:
    mname = family.name + "_total" if family.typ == "counter" else family.name
    help_text = family.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {mname} {help_text}\n# TYPE {mname} {family.typ}\n"


_FORMATTED: dict[float, str] = {}


def _format(value: float) -> str:
    """floatToGoString, memoised: counts repeat a lot between series and scrapes."""
    text = _FORMATTED.get(value)
    if text is None:
        if len(_FORMATTED) > _CACHE_LIMIT:
            _FORMATTED.clear()
        text = _FORMATTED[value] = floatToGoString(value)
    return text


# Line kinds of a plan: static text, a series' value, the first / next cumulative bucket, and
# a histogram's count (the last cumulative value).
_TEXT, _VALUE, _FIRST_BUCKET, _BUCKET, _COUNT = range(5)
_SUMMED_GAUGES = ("sum", "livesum")


class _Plan:
    """Where each value of each file goes, and the output lines, for one folder layout."""

    __slots__ = ("files", "lines", "signature", "slots")

    def __init__(self, signature: tuple[tuple[str, int, int], ...]) -> None:
        self.signature = signature
        self.slots: dict[tuple[Any, ...], int] = {}
        self.lines: list[tuple[int, str, int]] = []
        self.files: list[tuple[struct.Struct, list[int]]] = []

    def _slot(self, key: tuple[Any, ...]) -> int:
        return self.slots.setdefault(key, len(self.slots))

    @classmethod
    def build(
        cls,
        signature: tuple[tuple[str, int, int], ...],
        families: dict[str, _Family],
        files: list[_File],
    ) -> _Plan | None:
        """Return the plan of merged ``families`` read from ``files`` (None: unsupported).

        Only sums are planned (counters, histograms, summaries, sum/livesum gauges); folders
        with other gauge modes are rendered by the general merge every time.
        """
        plan = cls(signature)
        lines = plan.lines
        for family in families.values():
            if family.typ == "gauge" and family.mode not in _SUMMED_GAUGES:
                return None
            lines.append((_TEXT, _header(family), -1))
            for labels in family.buckets:
                family.groups.setdefault(labels, {})
            for labels, group in family.groups.items():
                text = _label_string(labels)
                for name in group:
                    lines.append(
                        (_VALUE, f"{name}{text} ", plan._slot((family.name, labels, name)))
                    )
                bounds = sorted(family.buckets.get(labels, ()))
                for index, bound in enumerate(bounds):
                    le = _label_string((*labels, ("le", floatToGoString(bound))))
                    kind = _FIRST_BUCKET if index == 0 else _BUCKET
                    slot = plan._slot((family.name, labels, family.name + "_bucket", bound))
                    lines.append((kind, f"{family.name}_bucket{le} ", slot))
                if bounds:
                    lines.append((_COUNT, f"{family.name}_count{text} ", -1))
        for file in files:
            histogram = file.typ == "histogram"
            fmt = ["="]
            at = 0
            slots: list[int] = []
            for raw, _value, _ts, pos in _entries(file.data):
                parsed = _parse_key(raw)
                key: tuple[Any, ...] = (parsed[0], parsed[2], parsed[1])
                if histogram and parsed[4] is not None:
                    key = (*key, parsed[4])
                found = plan.slots.get(key)
                if found is None:
                    return None
                fmt.append(f"{pos - at}xd" if pos > at else "d")
                at = pos + 8
                slots.append(found)
            plan.files.append((struct.Struct("".join(fmt)), slots))
        return plan

    def render(self, files: list[_File]) -> str:
        """Return the text for the current values of ``files`` (same layout as the plan)."""
        acc = [0.0] * len(self.slots)
        for (layout, slots), file in zip(self.files, files, strict=True):
            for slot, value in zip(slots, layout.unpack_from(file.data), strict=True):
                acc[slot] += value
        out: list[str] = []
        append = out.append
        cumulative = 0.0
        for kind, text, slot in self.lines:
            if kind == _VALUE:
                append(f"{text}{_format(acc[slot])}\n")
            elif kind == _TEXT:
                append(text)
            elif kind == _FIRST_BUCKET:
                cumulative = 0.0 + acc[slot]
                append(f"{text}{_format(cumulative)}\n")
            elif kind == _BUCKET:
                cumulative += acc[slot]
                append(f"{text}{_format(cumulative)}\n")
            else:
                append(f"{text}{_format(cumulative)}\n")
        return "".join(out)


_PLANS: dict[str, _Plan] = {}


class MultiProcessReader(Collector):
    """Read a multiprocess folder: ``render_text()`` for scrapes, ``collect()`` for the rest.

    Usable as a prometheus_client collector (``registry.register(reader)``); the merge rules
    (gauge modes, histogram accumulation, order of families and samples) are those of
    ``prometheus_client.multiprocess.MultiProcessCollector``.
    """

    def __init__(self, path: str) -> None:
        if not os.path.isdir(path):
            raise ValueError(f"multiprocess folder {path!r} does not exist")
        self.path = path

    def _read(self) -> list[_File]:
        """Read every file of the folder (in glob order, as prometheus_client does)."""
        files: list[_File] = []
        with _locked(self.path, exclusive=False):
            for filename in glob.glob(os.path.join(self.path, "*.db")):
                parts = os.path.basename(filename).split("_")
                try:
                    inode, data = _read_file(filename)
                except FileNotFoundError:
                    if parts[0] == "gauge" and parts[1].startswith("live"):
                        continue  # a worker died between the glob and now
                    raise
                files.append(_File(filename, parts, inode, data))
        return files

    def _merge(self, files: list[_File]) -> dict[str, _Family]:
        families: dict[str, _Family] = {}
        for file in files:
            if file.typ == "gauge":
                self._merge_gauge(families, file.data, file.parts[1], file.parts[2][:-3])
            else:
                self._merge_sums(families, file.data, file.typ)
        return families

    @staticmethod
    def _family(families: dict[str, _Family], parsed: Any, typ: str) -> _Family:
        family = families.get(parsed[0])
        if family is None:
            family = families[parsed[0]] = _Family(parsed[0], parsed[3], typ)
        return family

    def _merge_sums(self, families: dict[str, _Family], data: bytes, typ: str) -> None:
        histogram = typ == "histogram"
        for raw, value, _ts, _pos in _entries(data):
            parsed = _parse_key(raw)
            family = families.get(parsed[0])
            if family is None:
                family = families[parsed[0]] = _Family(parsed[0], parsed[3], typ)
            labels = parsed[2]
            le = parsed[4]
            if histogram and le is not None:
                per_bound = family.buckets.get(labels)
                if per_bound is None:
                    per_bound = family.buckets[labels] = {}
                per_bound[le] = per_bound.get(le, 0.0) + value
                continue
            group = family.groups.get(labels)
            if group is None:
                group = family.groups[labels] = {}
            name = parsed[1]
            group[name] = group.get(name, 0.0) + value

    def _merge_gauge(self, families: dict[str, _Family], data: bytes, mode: str, pid: str) -> None:
        keep_pid = mode in ("all", "liveall")
        for raw, value, timestamp, _pos in _entries(data):
            parsed = _parse_key(raw)
            family = self._family(families, parsed, "gauge")
            family.mode = mode
            name = parsed[1]
            labels = parsed[2] + (("pid", pid),) if keep_pid else parsed[2]
            if mode in ("mostrecent", "livemostrecent"):
                stamps = family.stamps.setdefault(labels, {})
                if stamps.get(name, 0.0) < float(timestamp or 0):
                    family.groups.setdefault(labels, {})[name] = value
                    stamps[name] = float(timestamp or 0)
                continue
            group = family.groups.get(labels)
            if group is None:
                group = family.groups[labels] = {}
            if mode in ("sum", "livesum"):
                group[name] = group.get(name, 0.0) + value
            elif mode in ("min", "livemin"):
                current = group.setdefault(name, value)
                if value < current:
                    group[name] = value
            elif mode in ("max", "livemax"):
                current = group.setdefault(name, value)
                if value > current:
                    group[name] = value
            else:
                group[name] = value

    @staticmethod
    def _histogram_tail(
        family: _Family,
    ) -> Iterator[tuple[tuple[tuple[str, str], ...], list[tuple[str, Any, float]]]]:
        """Yield, per label set, the cumulative bucket samples and the count."""
        for labels, per_bound in family.buckets.items():
            family.groups.setdefault(labels, {})
            acc = 0.0
            rows: list[tuple[str, Any, float]] = []
            for bound, value in sorted(per_bound.items()):
                acc += value
                rows.append((family.name + "_bucket", bound, acc))
            rows.append((family.name + "_count", None, acc))
            yield labels, rows

    def render_text(self) -> str:
        """Return the folder's metrics in the Prometheus text format (as generate_latest).

        The layout of the files (which series sits at which offset) only changes when a
        worker writes a new series or the set of files changes; the plan built from it is
        kept, and a scrape with the same layout just unpacks the values and formats lines.
        """
        files = self._read()
        signature = tuple((f.name, f.inode, len(f.data)) for f in files)
        plan = _PLANS.get(self.path)
        if plan is None or plan.signature != signature:
            families = self._merge(files)
            plan = _Plan.build(signature, families, files)
            if plan is None:
                _PLANS.pop(self.path, None)
                return self._render(families)
            _PLANS[self.path] = plan
        return plan.render(files)

    def _render(self, families: dict[str, _Family]) -> str:
        out: list[str] = []
        append = out.append
        for family in families.values():
            append(_header(family))
            tails = dict(self._histogram_tail(family)) if family.typ == "histogram" else {}
            for labels, group in family.groups.items():
                text = _label_string(labels)
                for name, value in group.items():
                    append(f"{name}{text} {floatToGoString(value)}\n")
                for name, bound, value in tails.get(labels, ()):
                    if bound is None:
                        append(f"{name}{text} {floatToGoString(value)}\n")
                    else:
                        le = (("le", floatToGoString(bound)),)
                        append(f"{name}{_label_string(labels + le)} {floatToGoString(value)}\n")
        return "".join(out)

    def collect(self) -> Iterator[Metric]:
        """Yield prometheus_client Metric objects (for OpenMetrics and other consumers)."""
        for family in self._merge(self._read()).values():
            metric = Metric(family.name, family.help, family.typ)
            tails = dict(self._histogram_tail(family)) if family.typ == "histogram" else {}
            for labels, group in family.groups.items():
                for name, value in group.items():
                    metric.samples.append(Sample(name, dict(labels), value))
                for name, bound, value in tails.get(labels, ()):
                    extra = {} if bound is None else {"le": floatToGoString(bound)}
                    metric.samples.append(Sample(name, {**dict(labels), **extra}, value))
            yield metric


def _pid_files(path: str, typ: str, pids: Iterable[int]) -> list[str]:
    return [f for pid in pids if os.path.exists(f := os.path.join(path, f"{typ}_{pid}.db"))]


def compact(path: str, pids: Iterable[int]) -> int:
    """Merge the counter/histogram/summary files of dead ``pids`` into the archives.

    Call only with pids known to be dead (gunicorn's child_exit); returns how many files were
    merged. Sums are kept per raw key, so reading the folder gives the same values as before
    (up to the order of floating-point additions).
    """
    pids = list(pids)
    merged = 0
    with _locked(path, exclusive=True):
        for typ in _COMPACTED_TYPES:
            dead = _pid_files(path, typ, pids)
            if not dead:
                continue
            archive = os.path.join(path, f"{typ}_archive.db")
            totals: dict[str, float] = {}
            for filename in ([archive] if os.path.exists(archive) else []) + dead:
                for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(filename):
                    totals[key] = totals.get(key, 0.0) + value
            tmp = archive[:-3] + ".tmp"
            store = MmapedDict(tmp)
            try:
                for key, value in totals.items():
                    store.write_value(key, value, 0.0)
            finally:
                store.close()
            os.replace(tmp, archive)
            for filename in dead:
                os.unlink(filename)
            merged += len(dead)
    return merged


def worker_exited(pid: int, path: str | None = None) -> None:
    """Do the bookkeeping for a dead worker: drop its live gauges, compact its counters."""
    path = path or os.environ.get(ENV)
    if not path or not os.path.isdir(path):
        return
    mark_process_dead(pid, path)
    try:
        compact(path, [pid])
    except Exception:
        # Compaction is an optimisation: the files stay readable as they are.
        logger.warning("could not compact the metrics of worker %s", pid, exc_info=True)
