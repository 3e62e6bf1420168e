"""URLs of the health endpoints, mounted at /health/ (outside /api)."""

from __future__ import annotations

from django.urls import re_path

from helpdesk.monitoring.health import views

urlpatterns = [
    re_path(r"^live/?$", views.live, name="health-live"),
    re_path(r"^ready/?$", views.ready, name="health-ready"),
    re_path(r"^$", views.full, name="health"),
]
