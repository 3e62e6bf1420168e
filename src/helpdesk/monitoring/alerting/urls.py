"""URLs of the alert center, included under /api/v1/monitoring/."""

from __future__ import annotations

from django.urls import path

from helpdesk.monitoring.alerting import views

urlpatterns = [
    path(
        "alerts/alertmanager/",
        views.AlertmanagerWebhookView.as_view(),
        name="alertmanager-webhook",
    ),
    path("alerts/", views.AlertListView.as_view(), name="alert-list"),
    path("alerts/<int:pk>/", views.AlertDetailView.as_view(), name="alert-detail"),
    path("alerts/<int:pk>/ack/", views.AlertAckView.as_view(), name="alert-ack"),
    path("silences/", views.SilenceListView.as_view(), name="silence-list"),
    path("silences/<int:pk>/expire/", views.SilenceExpireView.as_view(), name="silence-expire"),
    path("notifications/", views.NotificationListView.as_view(), name="notification-list"),
]
