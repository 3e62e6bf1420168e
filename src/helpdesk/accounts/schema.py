"""Describe our bearer tokens in the OpenAPI schema."""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

logger = logging.getLogger(__name__)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "helpdesk.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from POST /api/v1/auth/token/ (shown once, stored hashed).",
        }


class MonitoringTokenScheme(OpenApiAuthenticationExtension):
    target_class = "helpdesk.monitoring.access.MonitoringTokenAuthentication"
    name = "monitoringToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "MONITORING_API_TOKEN: read access to the monitoring APIs.",
        }
