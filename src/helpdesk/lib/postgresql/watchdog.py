"""Bound the waits of database connections on a server that stopped answering.

libpq has no client-side timeout for a query: a server that takes the bytes but never answers
(a stopped postmaster, a frozen VM) holds the waiting thread forever. PostgreSQL's own
``statement_timeout`` cannot fire on a server that does not run, and TCP keepalives only
notice a peer whose kernel is gone too. So each wait registers here with its deadline, and one
daemon thread per process shuts the socket of a wait that overran: the driver then raises
OperationalError at once and the thread is free to answer 503.

A wait that overran also marks its server unavailable for ``retry_seconds``: the other waits
on it are cut at once, and callers ask ``unavailable_for()`` before they wait on it again,
so a hung server holds no thread for longer than one deadline. The first call after that
tries the server again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.2


@dataclass(frozen=True)
class _Wait:
    server: str
    fd: int
    deadline: float
    retry_seconds: float


class Watchdog:
    """Cut overdue waits and remember which servers hung (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waits: dict[int, _Wait] = {}
        self._down: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guard(self, server: str, fd: int, seconds: float, retry_seconds: float) -> Iterator[None]:
        """Cut the socket ``fd`` if the block still waits on ``server`` after ``seconds``."""
        wait = _Wait(server, fd, time.monotonic() + seconds, retry_seconds)
        key = id(wait)
        with self._lock:
            self._waits[key] = wait
            if self._thread is None or not self._thread.is_alive():  # first use, or forked
                self._thread = threading.Thread(target=self._loop, name="db-watchdog", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._waits.pop(key, None)  # gone already when it was cut

    def unavailable_for(self, server: str) -> float:
        """Return the seconds ``server`` still counts as unavailable (0: try it)."""
        return max(0.0, self._down.get(server, 0.0) - time.monotonic())

    def timed_out(self, server: str, retry_seconds: float) -> None:
        """Mark ``server`` unavailable after a timeout and cut every wait on it."""
        with self._lock:
            self._trip(server, retry_seconds)

    def _trip(self, server: str, retry_seconds: float) -> None:
        # Called with the lock held: a registered wait's socket is still open (the owner
        # unregisters before it can close the connection), so its fd is the right one. A cut
        # wait is forgotten: its owner gets an error at once.
        self._down[server] = time.monotonic() + retry_seconds
        for key, wait in list(self._waits.items()):
            if wait.server == server:
                _shut_down(wait.fd)
                del self._waits[key]

    def _loop(self) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                overdue = {
                    w.server: w.retry_seconds for w in self._waits.values() if w.deadline <= now
                }
                for server, retry_seconds in overdue.items():
                    logger.debug("database wait on %s overran its deadline", server)
                    self._trip(server, retry_seconds)


def _shut_down(fd: int) -> None:
    """Shut the socket ``fd`` down (both ways) without closing the owner's descriptor."""
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


watchdog = Watchdog()
