"""Helpers for database inspector tests: extra Django connections to real databases."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections
from django.utils.module_loading import import_string


@contextmanager
def django_alias(alias: str, **overrides: Any) -> Iterator[str]:
    """Register a Django connection ``alias`` for the test's thread, built from ``default``.

    The inspector works on an alias; this lets a test point it at another database (a file,
    a separate server) without touching settings. The connection is closed afterwards.
    """
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    settings_dict.update(overrides)
    wrapper_class = import_string(f"{settings_dict['ENGINE']}.base.DatabaseWrapper")
    wrapper = wrapper_class(settings_dict, alias)
    connections[alias] = wrapper
    try:
        yield alias
    finally:
        wrapper.close()
        del connections[alias]
