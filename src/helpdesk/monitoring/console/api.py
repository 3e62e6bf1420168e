"""GET /api/v1/monitoring/console/charts/<name>/?range=1h: one chart's data, as JSON.

The console's pages draw their charts from here (frontend/src/console/). Staff, members of the
monitoring group and the monitoring token may read. Unknown chart: 404; unknown range: 400
with the field's error; a backend that cannot answer (Prometheus down): 503 + Retry-After.
"""

from __future__ import annotations

import logging

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.monitoring.access import MONITORING_AUTHENTICATION
from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console import pages as _pages  # noqa: F401 - registers their charts
from helpdesk.monitoring.console.access import IsConsoleReader
from helpdesk.monitoring.history.query import QueryError

logger = logging.getLogger(__name__)


class ChartSeriesSerializer(serializers.Serializer):
    """One line of a chart: its legend and one value per timestamp (null: no value)."""

    legend = serializers.CharField()
    values = serializers.ListField(child=serializers.FloatField(allow_null=True))


class ChartSerializer(serializers.Serializer):
    """A chart's data on one time grid."""

    name = serializers.CharField()
    title = serializers.CharField()
    unit = serializers.CharField(help_text="req/s, ratio, seconds, count or bytes.")
    range = serializers.ChoiceField(choices=list(charts.RANGES))
    step = serializers.IntegerField(help_text="Seconds between timestamps.")
    start = serializers.IntegerField(help_text="Epoch seconds.")
    end = serializers.IntegerField(help_text="Epoch seconds.")
    backend = serializers.CharField(help_text="embedded or prometheus.")
    timestamps = serializers.ListField(child=serializers.IntegerField())
    series = ChartSeriesSerializer(many=True)


class ChartView(APIView):
    """Answer one registered chart (``helpdesk.monitoring.console.charts``) over a range."""

    authentication_classes = MONITORING_AUTHENTICATION
    permission_classes = [IsConsoleReader]

    @extend_schema(
        summary="Console chart data",
        parameters=[
            OpenApiParameter(
                "name",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="A registered chart.",
                enum=sorted(charts.CHARTS),
            ),
            OpenApiParameter(
                "range",
                OpenApiTypes.STR,
                description="Time range ending now (default 1h).",
                enum=list(charts.RANGES),
            ),
        ],
        responses={
            200: ChartSerializer,
            503: OpenApiResponse(description="The metrics backend (Prometheus) is unavailable."),
        },
    )
    def get(self, request: Request, name: str) -> Response:
        """Return the chart's timestamps and series."""
        chart = charts.CHARTS.get(name)
        if chart is None:
            return Response({"detail": "No such chart."}, status=404)
        key = request.query_params.get("range", charts.DEFAULT_RANGE)
        if key not in charts.RANGES:
            return Response({"range": [f"Choose one of {', '.join(charts.RANGES)}."]}, status=400)
        try:
            data = charts.chart_data(chart, charts.RANGES[key])
        except QueryError as error:
            logger.warning("chart %s unavailable: %s", name, error)
            return Response(
                {"detail": "The metrics backend did not answer."},
                status=503,
                headers={"Retry-After": "30"},
            )
        return Response(data, headers={"Cache-Control": "private, max-age=10"})
