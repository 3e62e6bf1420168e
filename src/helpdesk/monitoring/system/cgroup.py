"""Read cgroup v2 limits and usage, so percentages are against the container, not the host.

Under cgroup v2 (``cgroup.controllers`` at the mount root) the process's group comes from
``/proc/self/cgroup`` (``0::/path``). The effective limit is the tightest one on the way from
that group up to the root, as the kernel enforces it. ``max`` means no limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/sys/fs/cgroup")
DEFAULT_PROC_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class CgroupReading:
    """One reading of the process's cgroup v2; None where a file is absent or unlimited."""

    path: str
    memory_max_bytes: int | None
    memory_current_bytes: int | None
    memory_inactive_file_bytes: int | None
    cpu_limit_cores: float | None
    cpu_usage_usec: int | None

    @property
    def memory_working_set_bytes(self) -> int | None:
        """Return usage less reclaimable page cache (what the OOM killer compares)."""
        if self.memory_current_bytes is None:
            return None
        inactive = self.memory_inactive_file_bytes or 0
        return max(self.memory_current_bytes - inactive, 0)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    if text is None or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_cpu_max(text: str | None) -> float | None:
    """Return the cores allowed by a ``cpu.max`` line (``"200000 100000"`` → 2.0), or None."""
    if not text:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max":
        return None
    try:
        return int(quota) / int(period or "100000")
    except (ValueError, ZeroDivisionError):
        return None


def parse_keyed(text: str | None) -> dict[str, int]:
    """Return a ``key value`` per line file (cpu.stat, memory.stat) as a dict."""
    values: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def own_group(proc_cgroup: Path = DEFAULT_PROC_CGROUP) -> str:
    """Return the process's cgroup v2 path (``/`` inside most containers)."""
    for line in (_read(proc_cgroup) or "").splitlines():
        if line.startswith("0::"):
            return line[3:] or "/"
    return "/"


def read(
    root: Path = DEFAULT_ROOT, proc_cgroup: Path = DEFAULT_PROC_CGROUP
) -> CgroupReading | None:
    """Return the cgroup v2 reading of this process, or None when cgroup v2 is not mounted."""
    if not (root / "cgroup.controllers").exists():
        return None
    group = own_group(proc_cgroup)
    here = (root / group.lstrip("/")).resolve()
    if not here.is_dir() or root.resolve() not in (here, *here.parents):
        here = root.resolve()
    memory_limits: list[int] = []
    cpu_limits: list[float] = []
    directory = here
    while True:
        memory = _int(_read(directory / "memory.max"))
        if memory is not None:
            memory_limits.append(memory)
        cores = parse_cpu_max(_read(directory / "cpu.max"))
        if cores is not None:
            cpu_limits.append(cores)
        if directory == root.resolve() or directory.parent == directory:
            break
        directory = directory.parent
    memory_stat = parse_keyed(_read(here / "memory.stat"))
    return CgroupReading(
        path=group,
        memory_max_bytes=min(memory_limits) if memory_limits else None,
        memory_current_bytes=_int(_read(here / "memory.current")),
        memory_inactive_file_bytes=memory_stat.get("inactive_file"),
        cpu_limit_cores=min(cpu_limits) if cpu_limits else None,
        cpu_usage_usec=parse_keyed(_read(here / "cpu.stat")).get("usage_usec"),
    )
