"""A size-rotated log file that several processes (gunicorn workers) can share safely.

The stdlib ``RotatingFileHandler`` breaks with several writers: each process rotates on its
own view of the size, renames the file under the others' feet, and they keep writing into the
renamed backup. ``SharedRotatingFileHandler`` does what logrotate would do, but inside the
write, under one lock:

1. take an exclusive ``flock`` on ``<file>.lock`` (one open lock file per process);
2. read the file's generation and size from the lock file, which every writer maps into
   memory (16 bytes): if the generation moved on (another process rotated), reopen the path;
3. if this line would take the file past ``max_bytes``, rename ``app.log`` → ``app.log.1`` →
   … → ``app.log.<backup_count>`` (the oldest is dropped), open a fresh file and count a new
   generation;
4. append the line with one ``write`` on an ``O_APPEND`` descriptor, add its length to the
   shared size, then release the lock.

So at any moment exactly one process rotates, no line is split or lost, and no process writes
into a backup. A line costs the lock, the write and two reads of shared memory, not a
``stat``: once a second (and when a process first writes) the path and size are checked
against the disk, so a file removed or truncated by hand is followed within a second. Every
ECS line ends with a newline; a line longer than ``max_bytes`` is written whole into a fresh
file rather than cut.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import struct
import time
from pathlib import Path

from helpdesk.lib.process import pid as current_pid

logger = logging.getLogger(__name__)

_NO_LOCK = contextlib.nullcontext()
# The lock file holds the generation (rotations so far) and the size of the current file.
_STATE = struct.Struct("<QQ")
# How often a writer checks the path and size against the disk (seconds).
VERIFY_INTERVAL = 1.0


class SharedRotatingFileHandler(logging.Handler):
    """Append formatted records to ``filename``, rotating by size across processes."""

    def __init__(
        self,
        filename: str | os.PathLike[str],
        max_bytes: int = 15 * 1024 * 1024,
        backup_count: int = 10,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.path = Path(filename)
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._state: mmap.mmap | None = None
        self._generation = -1  # the generation of the file self._fd names
        self._verified = float("-inf")
        self._pid = 0

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._fd is not None:
            os.close(self._fd)
        fd = self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return fd

    def _release(self) -> None:
        if self._state is not None:
            self._state.close()
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = self._state = None
        self._generation = -1
        self._verified = float("-inf")

    def _ensure_process(self) -> int:
        # After a fork the child shares the parent's open file description, and flock on a
        # shared description does not exclude the parent: give each process its own.
        pid = current_pid()
        if pid != self._pid:
            self._release()  # the parent's copies; the parent keeps its own
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o640)
            self._pid = pid
        return self._lock_fd  # type: ignore[return-value]  # set above for this pid

    def _shared(self, lock_fd: int) -> mmap.mmap:
        """Return the mapped state of the lock file (called under the lock)."""
        if self._state is None:
            if os.fstat(lock_fd).st_size < _STATE.size:
                os.ftruncate(lock_fd, _STATE.size)  # a new (or older, empty) lock file
            self._state = mmap.mmap(lock_fd, _STATE.size)
        return self._state

    def _rotate(self) -> int:
        if self.backup_count > 0:
            for index in range(self.backup_count - 1, 0, -1):
                source = Path(f"{self.path}.{index}")
                if source.exists():
                    source.replace(f"{self.path}.{index + 1}")
            self.path.replace(f"{self.path}.1")
        else:
            self.path.unlink(missing_ok=True)
        return self._open()

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted record as one line; rotate first if it would not fit."""
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            # Handler.handle() holds self.lock, so threads of this process take turns here;
            # flock makes the other processes wait too.
            lock_fd = self._ensure_process()
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                self._write(data, self._shared(lock_fd))
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
        except Exception:
            self.handleError(record)

    def _write(self, data: bytes, state: mmap.mmap) -> None:
        # The flock keeps other writers out, so the shared state is the file's state now.
        generation, size = _STATE.unpack_from(state)
        fd = self._fd
        now = time.monotonic()
        if fd is None or generation != self._generation or now - self._verified > VERIFY_INTERVAL:
            fd, size = self._verify(fd)
            self._generation = generation
            self._verified = now
        if self.max_bytes > 0 and size > 0 and size + len(data) > self.max_bytes:
            fd = self._rotate()
            generation += 1
            size = 0
            self._generation = generation
        os.write(fd, data)
        _STATE.pack_into(state, 0, generation, size + len(data))

    def _verify(self, fd: int | None) -> tuple[int, int]:
        """Follow the path if it no longer names our file; return the fd and its size."""
        try:
            on_disk: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            on_disk = None
        opened = None if fd is None else os.fstat(fd)
        if fd is None or opened is None or on_disk is None or not os.path.samestat(on_disk, opened):
            # Another process rotated (or someone removed) the file: follow the path.
            fd = self._open()
            opened = os.fstat(fd)
        return fd, opened.st_size

    def close(self) -> None:
        """Close the log and lock descriptors (they reopen on the next record)."""
        with self.lock or _NO_LOCK:
            self._release()
            self._pid = 0
        super().close()
