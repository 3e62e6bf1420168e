"""URL map: the API under /api/v1/, the admin, and (from the monitoring packages) probes."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from helpdesk.accounts.api import TokenView
from helpdesk.monitoring.console import urls as console_urls
from helpdesk.monitoring.database.views import DatabaseReportView
from helpdesk.monitoring.errors import views as errors_views
from helpdesk.monitoring.metrics.views import metrics_view
from helpdesk.monitoring.slo.views import SloReportView
from helpdesk.monitoring.status.views import status_page
from helpdesk.monitoring.system.views import SystemReportView
from helpdesk.tickets.views import TicketViewSet

router = DefaultRouter()
router.register("tickets", TicketViewSet, basename="ticket")

api_v1: list[URLPattern | URLResolver] = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/", include("rest_framework.urls", namespace="rest_framework")),
    path("analytics/", include("helpdesk.monitoring.browser.urls")),
    path("monitoring/database/", DatabaseReportView.as_view(), name="monitoring-database"),
    path("monitoring/system/", SystemReportView.as_view(), name="monitoring-system"),
    path("monitoring/slo/", SloReportView.as_view(), name="monitoring-slo"),
    path("monitoring/security/", include("helpdesk.monitoring.security.urls")),
    path("monitoring/errors/", include("helpdesk.monitoring.errors.urls")),
    path("monitoring/console/", include(console_urls.api_urlpatterns)),
    path("monitoring/", include("helpdesk.monitoring.alerting.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script from a URL, so the CSP needs no inline scripts.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # Sentry SDKs' ingestion endpoints (the DSN's path): helpdesk.monitoring.errors.views.
    path("api/<int:project_id>/envelope/", errors_views.envelope, name="errors-envelope"),
    path("api/<int:project_id>/store/", errors_views.store, name="errors-store"),
    path("health/", include("helpdesk.monitoring.health.urls")),
    path("monitoring/", include("helpdesk.monitoring.console.urls", namespace="console")),
    path("metrics", metrics_view, name="metrics"),
    path("status/", status_page, name="status"),
]

handler404 = "helpdesk.lib.views.not_found"
handler500 = "helpdesk.lib.views.server_error"
