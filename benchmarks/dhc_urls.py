"""Benchmark-only URLs: the product's, plus django-health-check 4 at /health/dhc/.

The path sits under /health/ so the access log skips it as it skips our probes; our probe
middleware answers only /health/, /health/live and /health/ready, so this view goes through
the normal middleware stack as it would in a project using it.
"""

from __future__ import annotations

from django.urls import path
from health_check.views import HealthCheckView

from helpdesk.urls import handler404, handler500
from helpdesk.urls import urlpatterns as product_urls

urlpatterns = [
    path(
        "health/dhc/",
        HealthCheckView.as_view(
            checks=["health_check.checks.Database", "health_check.checks.Cache"]
        ),
    ),
    *product_urls,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
