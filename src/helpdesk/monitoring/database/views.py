"""GET /api/v1/monitoring/database/: the inspector report as JSON, for staff or the token."""

from __future__ import annotations

import logging

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.monitoring import database
from helpdesk.monitoring.access import MONITORING_AUTHENTICATION, IsMonitoringReader

logger = logging.getLogger(__name__)


class DatabaseReportView(APIView):
    """Return the (cached) database inspector report of the default database."""

    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsMonitoringReader]

    @extend_schema(
        summary="Database health figures",
        responses={200: OpenApiResponse(description="The database inspector report.")},
    )
    def get(self, request: Request) -> Response:
        """Answer with the report; sections carry their own ok/unavailable/error status."""
        return Response(database.report())
