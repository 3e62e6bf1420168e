"""Benchmark-only settings: the product's settings plus django-health-check's app.

Used by bench_health.py to serve django-health-check's view on the same app, side by side
with ours. Not part of the product.
"""

from __future__ import annotations

from helpdesk.settings import *  # noqa: F403
from helpdesk.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "health_check"]
ROOT_URLCONF = "dhc_urls"
