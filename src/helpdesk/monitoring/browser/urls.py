"""The analytics endpoints, mounted under /api/v1/analytics/."""

from __future__ import annotations

from django.urls import path

from helpdesk.monitoring.browser import views

urlpatterns = [
    path("performance/", views.performance, name="analytics-performance"),
    path("interactions/", views.interactions, name="analytics-interactions"),
]
