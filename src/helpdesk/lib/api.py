"""Shared REST API building blocks: input parsing, pagination, strict serializers, errors.

Everything a client sends is parsed here into values the database can hold, so bad input is a
400 with a field error before it reaches a query: ids beyond 64 bits, numbers JSON cannot
carry, nesting meant to exhaust the stack, dates that overflow once converted to UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, filters, parsers, renderers, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)

# The largest id a query may carry: PostgreSQL's bigint and SQLite's integer. A larger number
# is a field error here, not an OverflowError in the database driver.
MAX_ID = 2**63 - 1
# JSON request bodies nest no deeper than this. Our bodies need a few levels; deeper input only
# serves to exhaust the stack of whatever walks it later (validation, logging, repr).
MAX_JSON_DEPTH = 32


def loads_json(body: bytes) -> Any:
    """Parse a JSON request body; raise ParseError (a 400) for anything JSON cannot carry.

    Refused: NaN and Infinity, numbers that overflow a double (``1e400``), lone surrogates
    and NUL characters (neither can be stored in PostgreSQL text or jsonb), nesting deeper
    than MAX_JSON_DEPTH. orjson itself stops at 1024 levels without using the stack.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise exceptions.ParseError(f"JSON parse error - {error}") from None
    problem = _unstorable(data)
    if problem:
        raise exceptions.ParseError(f"JSON parse error - {problem}")
    return data


def _unstorable(data: Any) -> str | None:
    # Iterative, so the check itself cannot run out of stack.
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "NUL characters (\\u0000) are not accepted."
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels."
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((child, depth + 1) for child in value.values())
        else:
            pending.extend((child, depth + 1) for child in value)
    return None


class JSONParser(parsers.BaseParser):
    """The API's JSON parser: ``loads_json`` (orjson, refusing what JSON cannot carry).

    The body's size is bounded before this runs (RequestBodyLimitMiddleware).
    """

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        return loads_json(stream.read())


def parse_datetime_param(value: str) -> datetime:
    """Return an ISO 8601 date-time from a client as an aware datetime in UTC.

    A value without an offset is in the current time zone. Raises ValueError with a message
    for the client when the text is not a date-time, names an impossible one (month 13, an
    offset of 99 hours), or leaves the years 1-9999 once converted to UTC
    (``0001-01-01T00:00:00+14:00``), which the database driver could not send.
    """
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError("Use an ISO 8601 date and time, e.g. 2026-01-31T09:00:00Z.")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("Out of range: the date must fall in the years 1-9999 in UTC.") from None


def datetime_param(request: Request, name: str) -> datetime | None:
    """Return the query parameter ``name`` as a UTC datetime, None when absent; 400 when bad."""
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return parse_datetime_param(value)
    except ValueError as error:
        raise exceptions.ValidationError({name: [str(error)]}) from None


class IdRelatedField(serializers.PrimaryKeyRelatedField):
    """A related object given by its integer id.

    ``1.5``, ``true`` and ids outside 1..MAX_ID are field errors: never truncated to another
    object's id, never passed to the database to overflow.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("pk_field", serializers.IntegerField(min_value=1, max_value=MAX_ID))
        super().__init__(**kwargs)


class Pagination(PageNumberPagination):
    """Page-number pagination with a client-chosen page size, capped at 100.

    A page size that is not a whole number of at least 1 is a 400 (DRF would silently use the
    default); a page past the end is DRF's 404 "Invalid page.".
    """

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size: int = serializers.IntegerField(min_value=1).run_validation(raw)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({self.page_size_query_param: error.detail}) from None
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page, {self.page_size} by default; "
                    f"more than {self.max_page_size} gives {self.max_page_size}."
                )
        return parameters


# Names of the strict serializers, so the OpenAPI schema can say their bodies allow no other
# properties (helpdesk.lib.openapi).
STRICT_SERIALIZERS: set[str] = set()


class StrictFieldsMixin(serializers.Serializer):
    """Reject input keys the serializer does not know, instead of silently dropping them."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        STRICT_SERIALIZERS.add(cls.__name__)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown or read-only field."] for name in unknown}
                )
        return super().to_internal_value(data)


class SearchFilter(filters.SearchFilter):
    """DRF's search filter, naming its parameter in the 400 for a value it refuses (NUL)."""

    def get_search_terms(self, request: Request) -> list[str]:
        try:
            terms: list[str] = super().get_search_terms(request)
        except exceptions.ValidationError as error:
            raise exceptions.ValidationError({self.search_param: error.detail}) from None
        return terms


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
    elif isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, list):
        # A 400 body is always an object (the schema's FieldErrors), never a bare list.
        exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.detail})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES (this module's
    # JSONParser) when it loads, so importing it at the top makes a cycle whenever this module
    # is imported before DRF's views (e.g. by a serializer module loaded first).
    from rest_framework.views import exception_handler as drf_exception_handler

    return drf_exception_handler(exc, context)
