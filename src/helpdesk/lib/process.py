"""The current process id without a system call per look-up.

``os.getpid()`` is a system call on every call (glibc stopped caching it), and the logging
path asks for it on every line to notice a fork (gunicorn forks its workers after the app is
loaded). ``pid()`` returns a value kept up to date by a fork hook instead: the interpreter runs
``after_in_child`` hooks in the child of every ``os.fork`` (multiprocessing and gunicorn
included) before any other Python code.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

_pid = os.getpid()


def pid() -> int:
    """Return the id of the current process (the same as ``os.getpid()``)."""
    return _pid


def _forked() -> None:
    global _pid  # noqa: PLW0603 - the one value this module keeps, updated in a new child
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
