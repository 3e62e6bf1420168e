"""Shared REST API building blocks: pagination, strict serializers, error handling."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class Pagination(PageNumberPagination):
    """Page-number pagination with a client-chosen page size up to 100."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class StrictFieldsMixin(serializers.Serializer):
    """Reject input keys the serializer does not know, instead of silently dropping them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown or read-only field."] for name in unknown}
                )
        return super().to_internal_value(data)


class PayloadTooLarge(exceptions.APIException):
    """The request body is larger than the configured limit."""

    status_code = 413
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn every error an API view raises into a JSON answer; never a 500 for bad input.

    Unexpected exceptions still return None so Django logs them and answers 500: those are
    bugs, and hiding them would hide them from monitoring too.
    """
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    return drf_exception_handler(exc, context)
