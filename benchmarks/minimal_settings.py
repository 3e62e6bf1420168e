"""Benchmark-only settings: the product's settings serving only the minimal ticket list.

bench_load.py runs a second `helpdesk serve` (the same gunicorn settings) with these settings,
as the limit the platform's ticket list is measured against: no middleware, one URL. Not part
of the product.
"""

from __future__ import annotations

from helpdesk.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "minimal_urls"
# The admin wants its middleware; this server never serves the admin.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]
