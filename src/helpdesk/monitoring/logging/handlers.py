"""A size-rotated log file that several processes (gunicorn workers) can share safely.

The stdlib ``RotatingFileHandler`` breaks with several writers (each rotates on its own view of
the size; the others write on into the backup). Here each line is written under an exclusive
``flock`` on ``<file>.lock``: reopen the path if it names another file now (rotated or removed),
rotate if the line would pass ``max_bytes`` (``app.log`` → ``app.log.1`` …), then append it in
one ``write``. No line is split, lost or written into a backup; a line longer than
``max_bytes`` goes whole into a fresh file.

A file that cannot be written (the disk is full, the folder read-only) drops the record
instead of printing logging's "--- Logging error ---" traceback for each one: one line on
stderr says so when it starts, then at most one every ``NOTICE_INTERVAL_SECONDS`` with the
number dropped; stdout (the other handler) still has every record.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)


class SharedRotatingFileHandler(logging.Handler):
    """Append formatted records to ``filename``, rotating by size across processes."""

    NOTICE_INTERVAL_SECONDS = 60.0

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
        self._dropped = 0
        self._noticed_at = float("-inf")

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted record as one line; rotate first if it would not fit."""
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            if self._lock_fd is None or self._pid != os.getpid():
                # A forked child shares the parent's open file descriptions, and flock on a
                # shared description does not exclude the parent: open our own.
                self._release()
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o640)
                self._pid = os.getpid()
            # Handler.handle() holds self.lock, so this process's threads take turns here;
            # flock makes the other processes wait too.
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                self._append(data)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        except OSError as error:
            self._drop(error)
        except Exception:
            self.handleError(record)

    def _drop(self, error: OSError) -> None:
        """Count a record the file could not take; say so on stderr once per interval."""
        self._dropped += 1
        now = time.monotonic()
        if now - self._noticed_at < self.NOTICE_INTERVAL_SECONDS:
            return
        self._noticed_at, dropped, self._dropped = now, self._dropped, 0
        # Not through logging: this handler is part of it. The errno name, not the text.
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        sys.stderr.write(
            f"log file {self.path.name} not writable ({reason}): "
            f"{dropped} record(s) dropped, stdout still has them\n"
        )

    def _append(self, data: bytes) -> None:
        """Append ``data`` to the file the path names now (call under the lock)."""
        try:
            on_disk: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            on_disk = None
        fd = self._fd
        if fd is None or on_disk is None or not os.path.samestat(on_disk, os.fstat(fd)):
            fd = self._open()
            on_disk = os.fstat(fd)
        size = on_disk.st_size
        if self.max_bytes > 0 and size > 0 and size + len(data) > self.max_bytes:
            for index in range(self.backup_count - 1, 0, -1):
                if Path(f"{self.path}.{index}").exists():
                    Path(f"{self.path}.{index}").replace(f"{self.path}.{index + 1}")
            if self.backup_count > 0:
                self.path.replace(f"{self.path}.1")
            else:
                self.path.unlink(missing_ok=True)
            fd = self._open()
        os.write(fd, data)

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return self._fd

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
