"""The console's URLs: pages under /monitoring/ (``console:`` names) and the JSON behind
its charts under /api/v1/monitoring/console/ (``api_urlpatterns``, in the OpenAPI schema)."""

from __future__ import annotations

from django.urls import path

from helpdesk.monitoring.console import api, views
from helpdesk.monitoring.console.pages import overview

app_name = "console"

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
]

api_urlpatterns = [
    path("charts/<str:name>/", api.ChartView.as_view(), name="console-chart"),
]
