"""A size-rotated log file that several processes (gunicorn workers) can share safely.

The stdlib ``RotatingFileHandler`` breaks with several writers: each process rotates on its
own view of the size, renames the file under the others' feet, and they keep writing into the
renamed backup. ``SharedRotatingFileHandler`` does what logrotate would do, but inside the
write, under an exclusive ``flock`` on ``<file>.lock``: reopen the path if it no longer names
the open file (another process rotated it, or someone removed it), rotate if the line would
take the file past ``max_bytes`` (``app.log`` → ``app.log.1`` → … → ``app.log.<backup_count>``,
the oldest dropped), then append the line with one ``write`` on an ``O_APPEND`` descriptor.
So exactly one process rotates at a time, no line is split or lost, and no process writes into
a backup. A line longer than ``max_bytes`` is written whole into a fresh file rather than cut.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


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
        self._pid = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted record as one line; rotate first if it would not fit."""
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            lock_fd = self._lock_file()
            # Handler.handle() holds self.lock, so threads of this process take turns here;
            # flock makes the other processes wait too.
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                fd, size = self._current()
                if self.max_bytes > 0 and size > 0 and size + len(data) > self.max_bytes:
                    fd = self._rotate()
                os.write(fd, data)
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
        except Exception:
            self.handleError(record)

    def _lock_file(self) -> int:
        """Return this process's descriptor on the lock file."""
        if self._lock_fd is None or self._pid != os.getpid():
            # After a fork the child shares the parent's open file descriptions, and flock on a
            # shared description does not exclude the parent: open our own.
            self._release()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o640)
            self._pid = os.getpid()
        return self._lock_fd

    def _current(self) -> tuple[int, int]:
        """Return a descriptor on the file the path names now, and its size (under the lock)."""
        fd = self._fd
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            on_disk = None
        if fd is not None and on_disk is not None and os.path.samestat(on_disk, os.fstat(fd)):
            return fd, on_disk.st_size
        fd = self._open()
        return fd, os.fstat(fd).st_size

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._fd is not None:
            os.close(self._fd)
        fd = self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return fd

    def _rotate(self) -> int:
        for index in range(self.backup_count - 1, 0, -1):
            source = Path(f"{self.path}.{index}")
            if source.exists():
                source.replace(f"{self.path}.{index + 1}")
        if self.backup_count > 0:
            self.path.replace(f"{self.path}.1")
        else:
            self.path.unlink(missing_ok=True)
        return self._open()

    def _release(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

    def close(self) -> None:
        """Close the log and lock descriptors (they reopen on the next record)."""
        self.acquire()
        try:
            self._release()
        finally:
            self.release()
        super().close()
