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


# The backend methods that are timed for the request and count errors (get and get_many are
# wrapped once more, to count hits and misses).
_TIMED = (
    "get",
    "get_many",
    "set",
    "add",
    "delete",
    "touch",
    "incr",
    "set_many",
    "delete_many",
    "has_key",
)


def _timed(base: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``base`` (a backend's method) timed for the request, errors counted.

    The wrapper calls the backend's function directly (resolved once per class, see
    ``_Instrumented.__init_subclass__``) rather than through ``super()`` and a shared helper:
    a request with one cache operation then pays one Python frame and no bound-method or
    ``super`` objects for the bookkeeping.
    """

    def method(self: _Instrumented, *args: Any, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            return base(self, *args, **kwargs)
        except ValueError:
            raise  # incr/decr of a missing key: an answer, not a cache failure
        except Exception:
            self._errors.inc()
            raise
        finally:
            timing = current_timing.get()
            if timing is not None:
                timing.cache_seconds += perf_counter() - start

    method.__name__ = method.__qualname__ = base.__name__
    method.__doc__ = base.__doc__
    return method


class _Instrumented:
    """Mixin over a Django cache backend (first in the bases)."""

    _get: Callable[..., Any]
    _get_many: Callable[..., Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        backend = super()  # the backend class after this mixin in cls.__mro__
        for name in _TIMED:
            timed = _timed(getattr(backend, name))
            setattr(cls, f"_{name}" if name in ("get", "get_many") else name, timed)

    def __init__(self, location: Any, params: dict[str, Any]) -> None:
        super().__init__(location, params)  # type: ignore[call-arg]
        alias = str(params.get("ALIAS", "default"))
        self._hits = CACHE_HITS.labels(alias)
        self._misses = CACHE_MISSES.labels(alias)
        self._errors = CACHE_ERRORS.labels(alias)

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


class LocMemCache(_Instrumented, locmem.LocMemCache):
    """Django's per-process memory cache, instrumented."""


class RedisCache(_Instrumented, redis.RedisCache):
    """Django's Redis cache, instrumented."""
