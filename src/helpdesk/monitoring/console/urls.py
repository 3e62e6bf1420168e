"""The console's URLs: pages under /monitoring/ (``console:`` names) and the JSON behind
its charts under /api/v1/monitoring/console/ (``api_urlpatterns``, in the OpenAPI schema)."""

from __future__ import annotations

from django.urls import path

from helpdesk.monitoring.console import api, views
from helpdesk.monitoring.console.pages import (
    alerts,
    business,
    database,
    errors,
    overview,
    security,
    system,
    traffic,
)

app_name = "console"

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("requests/", traffic.requests_page, name="requests"),
    path("alerts/", alerts.alerts_page, name="alerts"),
    path("alerts/<int:pk>/ack/", alerts.acknowledge, name="alert-ack"),
    path("silences/", alerts.create_silence, name="silence-create"),
    path("silences/<int:pk>/expire/", alerts.expire_silence, name="silence-expire"),
    path("runbooks/<str:name>/", alerts.runbook, name="runbook"),
    path("errors/", errors.errors_page, name="errors"),
    path("database/", database.database_page, name="database"),
    path("system/", system.system_page, name="system"),
    path("security/", security.security_page, name="security"),
    path("security/unlock/", security.unlock, name="security-unlock"),
    path("business/", business.business_page, name="business"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
]

api_urlpatterns = [
    path("charts/<str:name>/", api.ChartView.as_view(), name="console-chart"),
    path("business/", business.BusinessView.as_view(), name="console-business"),
]
