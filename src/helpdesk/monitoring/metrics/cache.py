"""Django cache backends that count hits, misses and errors per cache alias.

``LocMemCache`` and ``RedisCache`` are Django's own backends with a thin layer on the calls:
``get``/``get_many`` count ``helpdesk_cache_hits_total`` / ``helpdesk_cache_misses_total``,
any call that raises counts ``helpdesk_cache_errors_total`` (and still raises), and the time
spent is added to the current request's ``cache`` Server-Timing entry. The alias label comes
from the ``ALIAS`` key of the CACHES entry (settings.py sets it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from django.core.cache.backends import locmem, redis

from helpdesk.monitoring.metrics.instruments import CACHE_ERRORS, CACHE_HITS, CACHE_MISSES
from helpdesk.monitoring.metrics.timing import current_timing

logger = logging.getLogger(__name__)

_MISSING = object()


def _timed(name: str) -> Callable[..., Any]:
    """Return a method calling the backend's ``name``: timed for the request, errors counted.

    One function per method (rather than every method going through a shared helper with
    the bound method and ``*args``/``**kwargs`` passed on) keeps it to a single Python frame
    over the backend's own, which is what a request with one cache operation pays for.
    """

    def method(self: _Instrumented, *args: Any, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            return getattr(super(_Instrumented, self), name)(*args, **kwargs)
        except ValueError:
            raise  # incr/decr of a missing key: an answer, not a cache failure
        except Exception:
            self._errors.inc()
            raise
        finally:
            timing = current_timing.get()
            if timing is not None:
                timing.cache_seconds += perf_counter() - start

    method.__name__ = method.__qualname__ = name
    return method


class _Instrumented:
    """Mixin over a Django cache backend (first in the bases)."""

    def __init__(self, location: Any, params: dict[str, Any]) -> None:
        super().__init__(location, params)  # type: ignore[call-arg]
        alias = str(params.get("ALIAS", "default"))
        self._hits = CACHE_HITS.labels(alias)
        self._misses = CACHE_MISSES.labels(alias)
        self._errors = CACHE_ERRORS.labels(alias)

    _get = _timed("get")
    _get_many = _timed("get_many")

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        value = self._get(key, _MISSING, version)
        if value is _MISSING:
            self._misses.inc()
            return default
        self._hits.inc()
        return value

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        keys = list(keys)
        found: dict[Any, Any] = self._get_many(keys, version)
        if found:
            self._hits.inc(len(found))
        if len(keys) > len(found):
            self._misses.inc(len(keys) - len(found))
        return found

    set = _timed("set")
    add = _timed("add")
    delete = _timed("delete")
    touch = _timed("touch")
    incr = _timed("incr")
    set_many = _timed("set_many")
    delete_many = _timed("delete_many")
    has_key = _timed("has_key")


class LocMemCache(_Instrumented, locmem.LocMemCache):
    """Django's per-process memory cache, instrumented."""


class RedisCache(_Instrumented, redis.RedisCache):
    """Django's Redis cache, instrumented."""
