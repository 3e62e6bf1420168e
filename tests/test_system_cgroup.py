"""cgroup v2 parsing on sample files laid out like /sys/fs/cgroup."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.monitoring.system import cgroup
from helpdesk.monitoring.system.monitor import Sampler

GiB = 2**30


def lay_out(root: Path, files: dict[str, str], group: str = "/app.slice/web") -> Path:
    """Write a cgroup v2 tree under ``root``; return the fake /proc/self/cgroup."""
    (root / "cgroup.controllers").parent.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory io pids\n")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = root.parent / "proc-self-cgroup"
    proc.write_text(f"0::{group}\n")
    return proc


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    proc = lay_out(
        root,
        {
            "cpu.max": "max 100000\n",
            "app.slice/memory.max": f"{GiB}\n",
            "app.slice/web/memory.max": f"{2 * GiB}\n",  # looser than its parent
            "app.slice/web/memory.current": f"{600 * 2**20}\n",
            "app.slice/web/memory.stat": f"anon 1\ninactive_file {88 * 2**20}\nactive_file 5\n",
            "app.slice/web/cpu.max": "150000 100000\n",
            "app.slice/web/cpu.stat": "usage_usec 5000000\nuser_usec 4000000\n",
        },
    )
    return root, proc


def test_it_reads_the_tightest_limits_up_the_tree(tree: tuple[Path, Path]) -> None:
    reading = cgroup.read(*tree)
    assert reading is not None
    assert reading.path == "/app.slice/web"
    assert reading.memory_max_bytes == GiB
    assert reading.memory_current_bytes == 600 * 2**20
    assert reading.memory_working_set_bytes == 512 * 2**20
    assert reading.cpu_limit_cores == 1.5
    assert reading.cpu_usage_usec == 5_000_000


def test_it_treats_max_as_unlimited(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = lay_out(root, {"memory.max": "max\n", "cpu.max": "max 100000\n"}, group="/")
    reading = cgroup.read(root, proc)
    assert reading is not None
    assert reading.memory_max_bytes is None
    assert reading.cpu_limit_cores is None


def test_it_returns_none_without_cgroup_v2(tmp_path: Path) -> None:
    assert cgroup.read(tmp_path, tmp_path / "missing") is None


def test_it_parses_cpu_max_lines() -> None:
    assert cgroup.parse_cpu_max("200000 100000") == 2.0
    assert cgroup.parse_cpu_max("50000") == 0.5
    assert cgroup.parse_cpu_max("max 100000") is None
    assert cgroup.parse_cpu_max("junk") is None
    assert cgroup.parse_cpu_max(None) is None


def test_it_measures_against_the_container_limits(tree: tuple[Path, Path], settings) -> None:
    root, proc = tree
    now = [100.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    sampler = Sampler(["/"], root, proc, clock=lambda: now[0], sleep=sleep)
    first = sampler.sample()
    assert first.memory_source == first.cpu_source == "cgroup"
    assert first.memory_limit_bytes == GiB
    assert first.memory_percent == 50.0  # 512 MiB working set of 1 GiB
    assert first.cpu_percent == 0.0  # no CPU used during the warm-up
    assert first.cpu_cores == 1.5
    # 7.5 CPU-seconds in 10 s with 1.5 cores allowed: half the container's CPU.
    (root / "app.slice/web/cpu.stat").write_text("usage_usec 12500000\n")
    now[0] += 10
    assert sampler.sample().cpu_percent == 50.0
