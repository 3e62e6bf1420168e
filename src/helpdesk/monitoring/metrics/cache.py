"""Django cache backends that count hits, misses and errors per cache alias.

``LocMemCache`` and ``RedisCache`` are Django's own backends with a thin layer on the calls:
``get``/``get_many`` count ``helpdesk_cache_hits_total`` / ``helpdesk_cache_misses_total``,
any call that raises counts ``helpdesk_cache_errors_total`` (and still raises), and the time
spent is added to the current request's ``cache`` Server-Timing entry. The alias label comes
from the ``ALIAS`` key of the CACHES entry (settings.py sets it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any

from django.core.cache.backends import locmem, redis

from helpdesk.monitoring.metrics.instruments import CACHE_ERRORS, CACHE_HITS, CACHE_MISSES
from helpdesk.monitoring.metrics.timing import current_timing

logger = logging.getLogger(__name__)

_MISSING = object()


class _Instrumented:
    """Mixin over a Django cache backend (first in the bases): count and time its calls."""

    def __init__(self, location: Any, params: dict[str, Any]) -> None:
        super().__init__(location, params)  # type: ignore[call-arg]
        alias = str(params.get("ALIAS", "default"))
        self._hits = CACHE_HITS.labels(alias)
        self._misses = CACHE_MISSES.labels(alias)
        self._errors = CACHE_ERRORS.labels(alias)

    @contextmanager
    def _measured(self) -> Iterator[None]:
        """Add the block's time to the request's cache time; count errors (and re-raise)."""
        start = perf_counter()
        try:
            yield
        except ValueError:
            raise  # incr/decr of a missing key: an answer, not a cache failure
        except Exception:
            self._errors.inc()
            raise
        finally:
            timing = current_timing.get()
            if timing is not None:
                timing.cache_seconds += perf_counter() - start

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        with self._measured():
            value = super().get(key, _MISSING, version)  # type: ignore[misc]
        if value is _MISSING:
            self._misses.inc()
            return default
        self._hits.inc()
        return value

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        keys = list(keys)
        with self._measured():
            found: dict[Any, Any] = super().get_many(keys, version)  # type: ignore[misc]
        if found:
            self._hits.inc(len(found))
        if len(keys) > len(found):
            self._misses.inc(len(keys) - len(found))
        return found

    def set(self, *args: Any, **kwargs: Any) -> Any:
        with self._measured():
            return super().set(*args, **kwargs)  # type: ignore[misc]

    def add(self, *args: Any, **kwargs: Any) -> Any:
        with self._measured():
            return super().add(*args, **kwargs)  # type: ignore[misc]

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        with self._measured():
            return super().delete(*args, **kwargs)  # type: ignore[misc]

    def touch(self, *args: Any, **kwargs: Any) -> Any:
        with self._measured():
            return super().touch(*args, **kwargs)  # type: ignore[misc]

    def incr(self, *args: Any, **kwargs: Any) -> Any:
        with self._measured():
            return super().incr(*args, **kwargs)  # type: ignore[misc]

    def set_many(self, *args: Any, **kwargs: Any) -> Any:
        with self._measured():
            return super().set_many(*args, **kwargs)  # type: ignore[misc]

    def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        with self._measured():
            return super().delete_many(*args, **kwargs)  # type: ignore[misc]

    def has_key(self, *args: Any, **kwargs: Any) -> Any:
        with self._measured():
            return super().has_key(*args, **kwargs)  # type: ignore[misc]


class LocMemCache(_Instrumented, locmem.LocMemCache):
    """Django's per-process memory cache, instrumented.

    Django builds this backend's many-key calls from its single-key ones, which count and time
    each key already, so those calls skip the mixin's own counting.
    """

    get_many = locmem.LocMemCache.get_many
    set_many = locmem.LocMemCache.set_many
    delete_many = locmem.LocMemCache.delete_many


class RedisCache(_Instrumented, redis.RedisCache):
    """Django's Redis cache, instrumented."""
