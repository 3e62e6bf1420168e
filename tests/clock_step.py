"""Run ``helpdesk <command>`` with a wall clock that SIGUSR1 steps 2 h ahead and SIGUSR2 back.

The fault suite's clock case (tests/test_faults.py): as when a host's clock is stepped (NTP
after a long drift, a restored VM), the wall clock jumps and the monotonic clock does not.
time-machine moves Python's wall clock (``time.time``, ``datetime.now``…) in this process only,
so the web servers and the database keep the real time, and leaves ``time.monotonic`` (timers,
sleeps, timeouts) alone. libfaketime cannot do this: it moves the monotonic clock with the wall
clock, and Python's timed waits then never return.
"""

from __future__ import annotations

import datetime
import logging
import signal
import sys
from types import FrameType

import time_machine

from helpdesk.cli import main

logger = logging.getLogger(__name__)

STEP = datetime.timedelta(hours=2)
_travels: list[time_machine.travel] = []


def _ahead(signum: int, frame: FrameType | None) -> None:
    if not _travels:
        travel = time_machine.travel(datetime.datetime.now(datetime.UTC) + STEP, tick=True)
        travel.start()
        _travels.append(travel)
        logger.warning("clock stepped ahead to %s", datetime.datetime.now(datetime.UTC))


def _back(signum: int, frame: FrameType | None) -> None:
    if _travels:
        _travels.pop().stop()
        logger.warning("clock stepped back to %s", datetime.datetime.now(datetime.UTC))


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _ahead)
    signal.signal(signal.SIGUSR2, _back)
    sys.exit(main(["helpdesk", *sys.argv[1:]]))
