"""Describe the monitoring token in the OpenAPI schema (for every monitoring API view)."""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

logger = logging.getLogger(__name__)


class MonitoringTokenScheme(OpenApiAuthenticationExtension):
    target_class = "helpdesk.monitoring.access.MonitoringTokenAuthentication"
    name = "monitoringToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "MONITORING_API_TOKEN: read access to every monitoring API.",
        }
