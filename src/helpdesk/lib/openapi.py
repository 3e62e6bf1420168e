"""The OpenAPI schema's error answers: every operation documents the 4xx it can give.

A postprocessing hook of drf-spectacular (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) adds
to each operation, unless the view documents that status itself:

- 400 with field errors, and 413 for a body over the limit (any request can carry a bad
  Content-Length or too large a body, so every operation documents both);
- 401 and 403, when it needs authentication;
- 404, when its path has a parameter or it is paginated ("Invalid page.");
- 429 and 503 everywhere, with a Retry-After header.

Request bodies of strict serializers (helpdesk.lib.api.StrictFieldsMixin) say
``additionalProperties: false``: the API answers 400 for an unknown field.
"""

from __future__ import annotations

import logging
from typing import Any

from helpdesk.lib.api import STRICT_SERIALIZERS

logger = logging.getLogger(__name__)

_ERROR = {
    "type": "object",
    "description": "An error the client can show: `detail` says what went wrong.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_FIELD_ERRORS = {
    "type": "object",
    "description": (
        "Field errors: each key names an input (`non_field_errors`: the body as a whole) and "
        "holds its messages, or nested errors for a nested input; `detail` alone when the body "
        "could not be parsed."
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "object"}]},
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
        "required": True,
    }
}
_DESCRIPTIONS = {
    "400": "Bad input: field errors, or a body that is not valid JSON.",
    "401": "No credentials, or credentials that are not valid.",
    "403": "Authenticated, but not allowed to do this.",
    "404": "No such object (or not visible to the caller), or a page past the end.",
    "413": "The request body is larger than MAX_REQUEST_BODY_BYTES.",
    "429": "Too many requests or failed logins from this client: retry after Retry-After.",
    "503": "A service the API needs is unavailable: retry after Retry-After.",
}


def _response(status: str) -> dict[str, Any]:
    name = "FieldErrors" if status == "400" else "Error"
    answer: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }
    if status in ("429", "503"):
        answer["headers"] = _RETRY_AFTER
    return answer


def _statuses(operation: dict[str, Any]) -> list[str]:
    statuses = ["400"]
    # drf-spectacular lists {} among the alternatives when anonymous callers are allowed.
    security = operation.get("security", [])
    if security and {} not in security:
        statuses += ["401", "403"]
    if any(p["in"] == "path" or p["name"] == "page" for p in operation.get("parameters", [])):
        statuses.append("404")
    return [*statuses, "413", "429", "503"]


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Document each operation's error answers and close strict request bodies."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = _ERROR
    schemas["FieldErrors"] = _FIELD_ERRORS
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in _statuses(operation):
                responses.setdefault(status, _response(status))
    for name in STRICT_SERIALIZERS:
        component = name.removesuffix("Serializer")
        for request_name in (f"{component}Request", f"Patched{component}Request"):
            if request_name in schemas:
                schemas[request_name]["additionalProperties"] = False
    return result
