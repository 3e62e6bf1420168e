"""GET /api/v1/monitoring/slo/: every SLO's status as JSON (staff or the monitoring token)."""

from __future__ import annotations

import logging

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.monitoring.access import MONITORING_AUTHENTICATION, IsMonitoringReader
from helpdesk.monitoring.slo.prometheus import PrometheusError
from helpdesk.monitoring.slo.report import report

logger = logging.getLogger(__name__)


class SloReportView(APIView):
    """Return the SLO report (``helpdesk.monitoring.slo.report``)."""

    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsMonitoringReader]

    @extend_schema(
        summary="Service level objectives",
        responses={
            200: OpenApiResponse(
                description="Per SLO: objective, window, SLI, budget remaining, burn rates per "
                "window, the four burn-rate alerts, seconds to exhaustion."
            ),
            503: OpenApiResponse(description="PROMETHEUS_URL is set and Prometheus is down."),
        },
    )
    def get(self, request: Request) -> Response:
        """Answer with the report, from Prometheus when PROMETHEUS_URL is set."""
        try:
            return Response(report())
        except PrometheusError as error:
            logger.warning("SLO report unavailable: %s", error)
            return Response({"detail": str(error)}, status=503, headers={"Retry-After": "30"})
