"""Sample CPU, memory, disk, I/O and the process's own use; judge them against thresholds.

``Sampler.sample()`` returns a ``Snapshot``. When cgroup v2 limits apply, CPU and memory
percentages are against the container's limit (cpu.max quota, memory.max working set), else
against the host. ``ThresholdMonitor.observe()`` turns successive snapshots into crossings and
clearings: a resource crosses only after staying over its limit for ``sustained_seconds`` (one
spike is not an alert), each crossing and clearing is logged once and sent as a signal
(``signals.py``). The clock is injectable for tests.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings

from helpdesk.monitoring.system import cgroup, signals

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class DiskUsage:
    """Usage of the file system holding ``path``."""

    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    percent: float


def disk_usage(path: str | Path) -> DiskUsage:
    """Return the usage of the file system holding ``path``; raises OSError when unreadable.

    The one disk figure of the product (the system monitor, its threshold and the health
    check): ``percent`` is used / (used + available to non-root), as ``df`` shows it, so it
    reaches 100 when the app (not running as root) can write no more.
    """
    usage = psutil.disk_usage(str(path))
    return DiskUsage(str(path), usage.total, usage.used, usage.free, round(usage.percent, 2))


@dataclass(frozen=True)
class Snapshot:
    """System figures at one moment; percentages are 0-100."""

    cpu_percent: float
    cpu_cores: float
    cpu_source: str  # "cgroup" or "host"
    load_average: tuple[float, float, float]
    memory_percent: float
    memory_used_bytes: int
    memory_limit_bytes: int
    memory_source: str
    swap_percent: float
    disks: list[DiskUsage]
    network: dict[str, int]
    disk_io: dict[str, int]
    process: dict[str, float]
    cgroup_path: str | None = None
    taken_at: float = field(default_factory=time.time)

    def resources(self) -> dict[str, float]:
        """Return the thresholded figures by resource name (``cpu``, ``memory``, ``disk:/``)."""
        values = {"cpu": self.cpu_percent, "memory": self.memory_percent}
        values.update({f"disk:{disk.path}": disk.percent for disk in self.disks})
        return values

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-ready data."""
        return asdict(self)


def _cpu_total(times: Any) -> float:
    # Linux counts guest time inside user time too (as psutil.cpu_percent does, subtract it).
    return float(sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0))


def _cpu_idle(times: Any) -> float:
    return float(times.idle + getattr(times, "iowait", 0.0))


class Sampler:
    """Take snapshots; CPU % is measured between two samples (the first waits ``warmup``)."""

    def __init__(
        self,
        disk_paths: Iterable[str] | None = None,
        cgroup_root: Path = cgroup.DEFAULT_ROOT,
        proc_cgroup: Path = cgroup.DEFAULT_PROC_CGROUP,
        *,
        warmup: float = 0.25,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.disk_paths = list(settings.SYSTEM_DISK_PATHS if disk_paths is None else disk_paths)
        self.cgroup_root = cgroup_root
        self.proc_cgroup = proc_cgroup
        self.warmup = warmup
        self.clock = clock
        self.sleep = sleep
        self._process = psutil.Process()
        self._lock = threading.Lock()
        self._last_cpu: tuple[float, int] | None = None  # (monotonic, cgroup usage_usec)
        self._last_cpu_percent = 0.0
        self._last_host: Any = None  # psutil.cpu_times() of the previous host sample

    def _cpu(self, reading: cgroup.CgroupReading | None) -> tuple[float, float, str]:
        host_cores = float(psutil.cpu_count() or 1)
        if reading is not None and reading.cpu_limit_cores and reading.cpu_usage_usec is not None:
            cores = min(reading.cpu_limit_cores, host_cores)
            now = self.clock()
            if self._last_cpu is not None and now - self._last_cpu[0] < 0.05:
                # Too soon after the last reading to divide by the interval: repeat its figure.
                return self._last_cpu_percent, cores, "cgroup"
            if self._last_cpu is None:
                # No earlier reading: take one now and measure over the warm-up.
                self._last_cpu = (now, reading.cpu_usage_usec)
                self.sleep(self.warmup)
                reading = cgroup.read(self.cgroup_root, self.proc_cgroup) or reading
                now = self.clock()
            then, used = self._last_cpu
            usage = reading.cpu_usage_usec or used
            self._last_cpu = (now, usage)
            percent = (usage - used) / 1e6 / ((now - then) * cores) * 100
            self._last_cpu_percent = min(max(percent, 0.0), 100.0)
            return self._last_cpu_percent, cores, "cgroup"
        return self._host_cpu(), host_cores, "host"

    def _host_cpu(self) -> float:
        # Deltas of our own, not psutil.cpu_percent(): its "since the last call" state is
        # module-wide, so two samplers (or another library) would steal each other's interval.
        times = psutil.cpu_times()
        if self._last_host is None:
            self._last_host = times
            self._process.cpu_percent(interval=None)
            self.sleep(self.warmup)
            times = psutil.cpu_times()
        total = _cpu_total(times) - _cpu_total(self._last_host)
        if total <= 0.01:  # too soon to divide by: repeat the last figure
            return self._last_cpu_percent
        idle = _cpu_idle(times) - _cpu_idle(self._last_host)
        self._last_host = times
        self._last_cpu_percent = min(max((total - idle) / total * 100, 0.0), 100.0)
        return self._last_cpu_percent

    def _memory(self, reading: cgroup.CgroupReading | None) -> tuple[float, int, int, str]:
        if reading is not None and reading.memory_max_bytes:
            used = reading.memory_working_set_bytes or 0
            limit = reading.memory_max_bytes
            return min(used / limit * 100, 100.0), used, limit, "cgroup"
        memory = psutil.virtual_memory()
        return memory.percent, memory.total - memory.available, memory.total, "host"

    def _disks(self) -> list[DiskUsage]:
        """Return one usage per file system, named by its first watched path.

        The default paths (data dir, log dir under it, ``/``) usually share one file system:
        reporting it once per path would fire DiskSpaceLow once per path for one full disk.
        """
        disks: list[DiskUsage] = []
        seen: set[int] = set()
        for path in self.disk_paths:
            try:
                device = os.stat(path).st_dev
                if device in seen:
                    continue
                disks.append(disk_usage(path))
            except OSError:
                logger.debug("disk path %s not readable", path)
                continue
            seen.add(device)
        return disks

    def _process_figures(self) -> dict[str, float]:
        process = self._process
        with process.oneshot():
            times = process.cpu_times()
            figures: dict[str, float] = {
                "pid": process.pid,
                "rss_bytes": process.memory_info().rss,
                "cpu_percent": process.cpu_percent(interval=None),
                "cpu_seconds": times.user + times.system,
                "threads": process.num_threads(),
            }
            try:
                figures["open_fds"] = process.num_fds()
            except (AttributeError, psutil.Error):  # num_fds is POSIX-only
                figures["open_fds"] = -1
        return figures

    def sample(self) -> Snapshot:
        """Return a snapshot now (the first call in a process waits ``warmup`` seconds)."""
        with self._lock:
            reading = cgroup.read(self.cgroup_root, self.proc_cgroup)
            cpu_percent, cores, cpu_source = self._cpu(reading)
            memory_percent, used, limit, memory_source = self._memory(reading)
            net = psutil.net_io_counters()
            io = psutil.disk_io_counters()
            return Snapshot(
                cpu_percent=round(cpu_percent, 2),
                cpu_cores=cores,
                cpu_source=cpu_source,
                load_average=tuple(round(x, 2) for x in os.getloadavg()),  # type: ignore[arg-type]
                memory_percent=round(memory_percent, 2),
                memory_used_bytes=used,
                memory_limit_bytes=limit,
                memory_source=memory_source,
                swap_percent=psutil.swap_memory().percent,
                disks=self._disks(),
                network={
                    "bytes_sent": net.bytes_sent,
                    "bytes_received": net.bytes_recv,
                    "errors_in": net.errin,
                    "errors_out": net.errout,
                    "drops_in": net.dropin,
                    "drops_out": net.dropout,
                }
                if net
                else {},
                disk_io={
                    "read_bytes": io.read_bytes,
                    "written_bytes": io.write_bytes,
                    "reads": io.read_count,
                    "writes": io.write_count,
                }
                if io
                else {},
                process=self._process_figures(),
                cgroup_path=reading.path if reading else None,
            )


@dataclass(frozen=True)
class Thresholds:
    """Limits in percent, and how long a value must stay over one before it counts."""

    cpu: float
    memory: float
    disk: float
    sustained_seconds: float

    @classmethod
    def from_settings(cls) -> Thresholds:
        """Return the thresholds configured by the SYSTEM_* settings."""
        return cls(
            cpu=settings.SYSTEM_CPU_THRESHOLD_PERCENT,
            memory=settings.SYSTEM_MEMORY_THRESHOLD_PERCENT,
            disk=settings.SYSTEM_DISK_THRESHOLD_PERCENT,
            sustained_seconds=settings.SYSTEM_SUSTAINED_SECONDS,
        )

    def limit_for(self, resource: str) -> float:
        """Return the limit of ``cpu``, ``memory`` or ``disk:<path>``."""
        return self.disk if resource.startswith("disk:") else float(getattr(self, resource))

    def over(self, snapshot: Snapshot) -> dict[str, tuple[float, float]]:
        """Return the resources over their limit right now, as ``{resource: (value, limit)}``."""
        return {
            resource: (value, self.limit_for(resource))
            for resource, value in snapshot.resources().items()
            if value > self.limit_for(resource)
        }


@dataclass
class _State:
    over_since: float | None = None  # clock time of the first sample over the limit
    over_since_wall: float | None = None
    crossed: bool = False


@dataclass(frozen=True)
class Transition:
    """A crossing or a clearing reported by ``ThresholdMonitor.observe``."""

    kind: str  # "crossed" or "cleared"
    resource: str
    value: float
    limit: float


class ThresholdMonitor:
    """Track resources over successive snapshots; send a signal when one crosses or clears."""

    def __init__(self, thresholds: Thresholds | None = None, clock: Clock = time.monotonic) -> None:
        self.thresholds = thresholds or Thresholds.from_settings()
        self.clock = clock
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def crossed(self) -> dict[str, bool]:
        """Return, per resource seen so far, whether it is currently crossed."""
        with self._lock:
            return {name: state.crossed for name, state in self._states.items()}

    def observe(self, snapshot: Snapshot) -> list[Transition]:
        """Update the states with ``snapshot``; log, signal and return the transitions."""
        now = self.clock()
        transitions: list[Transition] = []
        with self._lock:
            for resource, value in snapshot.resources().items():
                limit = self.thresholds.limit_for(resource)
                state = self._states.setdefault(resource, _State())
                if value > limit:
                    if state.over_since is None:
                        state.over_since = now
                        state.over_since_wall = time.time()
                    held = now - state.over_since
                    if not state.crossed and held >= self.thresholds.sustained_seconds:
                        state.crossed = True
                        transitions.append(Transition("crossed", resource, value, limit))
                else:
                    if state.crossed:
                        transitions.append(Transition("cleared", resource, value, limit))
                    state.crossed = False
                    state.over_since = None
        for transition in transitions:
            self._announce(transition, now)
        return transitions

    def _announce(self, transition: Transition, now: float) -> None:
        state = self._states[transition.resource]
        fields = {
            "event.action": f"system_threshold_{transition.kind}",
            "event.kind": "alert" if transition.kind == "crossed" else "event",
            "system.resource": transition.resource,
            "system.value_percent": transition.value,
            "system.limit_percent": transition.limit,
        }
        if transition.kind == "crossed":
            since = state.over_since or now
            logger.warning(
                "%s at %.1f%% is over its %.0f%% threshold for %.0f s",
                transition.resource,
                transition.value,
                transition.limit,
                now - since,
                extra=fields,
            )
            signals.threshold_crossed.send(
                sender=self,
                resource=transition.resource,
                value=transition.value,
                limit=transition.limit,
                since=state.over_since_wall,
                sustained_seconds=now - since,
            )
        else:
            logger.info(
                "%s back to %.1f%%, under its %.0f%% threshold",
                transition.resource,
                transition.value,
                transition.limit,
                extra=fields,
            )
            since_wall = state.over_since_wall
            signals.threshold_cleared.send(
                sender=self,
                resource=transition.resource,
                value=transition.value,
                limit=transition.limit,
                since=since_wall,
                duration_seconds=None if since_wall is None else time.time() - since_wall,
            )
