"""URLs of the security API, included under /api/v1/monitoring/security/."""

from __future__ import annotations

from django.urls import path

from helpdesk.monitoring.security import views

urlpatterns = [
    path("events/", views.SecurityEventListView.as_view(), name="security-event-list"),
    path("lockouts/", views.LockoutListView.as_view(), name="security-lockout-list"),
    path("lockouts/unlock/", views.UnlockView.as_view(), name="security-unlock"),
]
