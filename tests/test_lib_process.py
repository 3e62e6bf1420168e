"""The process id kept by a fork hook."""

from __future__ import annotations

import multiprocessing
import os

from helpdesk.lib.process import pid


def _child_pids(queue: multiprocessing.Queue[tuple[int, int]]) -> None:
    queue.put((pid(), os.getpid()))


def test_it_returns_the_process_id() -> None:
    assert pid() == os.getpid()


def test_it_follows_a_fork() -> None:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, f"{pid()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        seen, actual = map(int, pipe.read().split())
    os.waitpid(child, 0)
    assert seen == actual == child
    assert pid() == os.getpid() != child


def test_it_follows_a_multiprocessing_fork() -> None:
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[int, int]] = context.Queue()
    process = context.Process(target=_child_pids, args=(queue,))
    process.start()
    seen, actual = queue.get(timeout=30)
    process.join(timeout=30)
    assert seen == actual == process.pid
