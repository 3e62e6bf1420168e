"""Signals the system monitor sends when a resource crosses or clears its threshold.

This is the interface the alerting package subscribes to (and anything else may):

``threshold_crossed(sender, resource, value, limit, since, sustained_seconds)``
    ``resource`` is ``cpu``, ``memory`` or ``disk:<path>``; ``value`` and ``limit`` are
    percentages; ``since`` is the UNIX time the value first went over the limit;
    ``sustained_seconds`` how long it stayed over before this signal. Sent once per episode.
``threshold_cleared(sender, resource, value, limit, since, duration_seconds)``
    Sent when a crossed resource is back at or under its limit; ``duration_seconds`` is how
    long the episode lasted from ``since``.

``sender`` is the ``ThresholdMonitor`` instance. Receivers run synchronously in the thread
that observed the sample: keep them quick, hand slow work (sending mail) to the worker.
"""

from __future__ import annotations

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

threshold_crossed = Signal()
threshold_cleared = Signal()
