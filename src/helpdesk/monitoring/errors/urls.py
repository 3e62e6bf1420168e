"""URLs of the error tracking staff API, included under /api/v1/monitoring/errors/."""

from __future__ import annotations

from django.urls import path

from helpdesk.monitoring.errors import api

urlpatterns = [
    path("projects/", api.ProjectListView.as_view(), name="errors-project-list"),
    path("projects/<int:pk>/", api.ProjectDetailView.as_view(), name="errors-project-detail"),
    path(
        "projects/<int:pk>/rotate-key/", api.RotateKeyView.as_view(), name="errors-project-rotate"
    ),
    path("issues/", api.IssueListView.as_view(), name="errors-issue-list"),
    path("issues/<int:pk>/", api.IssueDetailView.as_view(), name="errors-issue-detail"),
    path("issues/<int:pk>/events/", api.IssueEventListView.as_view(), name="errors-issue-events"),
    path("issues/<int:pk>/status/", api.IssueStatusView.as_view(), name="errors-issue-status"),
]
