"""GET /api/v1/monitoring/system/: a system snapshot and threshold states as JSON."""

from __future__ import annotations

import logging

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.monitoring import system
from helpdesk.monitoring.access import MONITORING_AUTHENTICATION, IsMonitoringReader

logger = logging.getLogger(__name__)


class SystemReportView(APIView):
    """Return a fresh snapshot, the thresholds and which resources are crossed."""

    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsMonitoringReader]

    @extend_schema(
        summary="System health figures",
        responses={200: OpenApiResponse(description="Snapshot, thresholds, crossed states.")},
    )
    def get(self, request: Request) -> Response:
        """Answer with the snapshot; ``over`` lists resources over their limit right now."""
        snapshot = system.observe()
        monitor = system.monitor()
        return Response(
            {
                "snapshot": snapshot.as_dict(),
                "thresholds": {
                    "cpu_percent": monitor.thresholds.cpu,
                    "memory_percent": monitor.thresholds.memory,
                    "disk_percent": monitor.thresholds.disk,
                    "sustained_seconds": monitor.thresholds.sustained_seconds,
                },
                "over": sorted(monitor.thresholds.over(snapshot)),
                "crossed": monitor.crossed(),
            }
        )
