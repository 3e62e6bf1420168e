"""Formatters: ECS JSON lines (the default) and a readable console format for development.

``ECSFormatter`` is Elastic's ``ecs_logging.StdlibFormatter`` with ``format_to_ecs`` extended:
the standard fields are Elastic's (minus ``log.original``, a copy of ``message``); on top come
the service fields, the full traceback (with chained causes) as the stack trace, and the extra
fields, nested by their dotted names without ever losing a line to a clash. The message, the
error fields and every extra field are redacted and size-capped by the ``Redactor``.

``ConsoleFormatter`` renders the same event as one human line. Control characters are escaped
so hostile input cannot start a second line or forge a field.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
import traceback
from typing import Any

import ecs_logging

from helpdesk.monitoring.logging.redaction import REDACTED, Redactor, is_sensitive_key

logger = logging.getLogger(__name__)

# The attributes every LogRecord has (and those Formatter.format adds): anything else is extra.
# Django passes the request object and status code as extras: the context filter describes the
# request in ECS fields and maps the status code, so the raw ones are dropped.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_DROPPED = frozenset({"request", "status_code"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _flatten(name: str, value: Any, out: dict[str, Any]) -> None:
    """Add ``value`` to ``out`` under its dotted name, a dict as one field per leaf."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{name}.{key}", item, out)
    else:
        out[name] = value


def _nest(fields: dict[str, Any], event: dict[str, Any]) -> None:
    """Put dotted ``fields`` into ``event`` as nested objects, extending the objects there.

    A clashing plain value goes under ``labels``: "user": "bob" with "user.id": "7" cannot both
    be nested, so the ECS object wins and the plain value is kept as ``labels.user`` rather
    than costing the line.
    """
    clashes: dict[str, Any] = {}
    for name, value in fields.items():
        *parents, leaf = [name] if name == "ecs.version" else name.split(".")
        node = event
        for depth, part in enumerate(parents, 1):
            child = node.get(part)
            if not isinstance(child, dict):
                if child is not None:
                    clashes["_".join(parents[:depth])] = child
                child = node[part] = {}
            node = child
        if isinstance(node.get(leaf), dict):
            clashes[name.replace(".", "_")] = value
        else:
            node[leaf] = value
    if clashes:
        labels = event.setdefault("labels", {})
        labels.update({k: v if isinstance(v, str) else str(v) for k, v in clashes.items()})


class ECSFormatter(ecs_logging.StdlibFormatter):
    """Format a record as one ECS JSON object (see the module docstring).

    ``service`` holds the static fields (``service.name``…) merged into every event;
    ``max_field_chars`` caps each string field (stack traces get four times as much).
    """

    def __init__(
        self,
        service: dict[str, Any] | None = None,
        max_field_chars: int = 8192,
        redactor: Redactor | None = None,
        **kwargs: Any,
    ) -> None:
        # Our own stack trace replaces Elastic's (frames only) in format_to_ecs.
        kwargs.setdefault("exclude_fields", ["log.original", "error.stack_trace"])
        super().__init__(**kwargs)
        self.service = dict(service or {})
        self.redactor = redactor or Redactor.from_environment(max_field_chars)

    def format_to_ecs(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the redacted, size-capped ECS event (a nested dict) for ``record``."""
        extras = {name: value for name, value in vars(record).items() if name not in _STANDARD}
        # Elastic's formatter makes the standard fields of a copy without the extras: they
        # are redacted and nested here, where a clash cannot raise.
        standard = copy.copy(record)
        for name in extras:
            delattr(standard, name)
        event = super().format_to_ecs(standard)
        redactor = self.redactor
        event["message"] = redactor.text(event["message"])
        error = event.get("error", {})
        if "message" in error:
            error["message"] = redactor.text(error["message"])
        stack = self._stack_trace(record)
        if stack:
            limit = redactor.long_fields["error.stack_trace"]
            event["error"] = {**error, "stack_trace": redactor.text(stack, limit)}
        fields = dict(self.service)
        for name, value in extras.items():
            if name not in _DROPPED and not name.startswith("_"):
                _flatten(name, value, fields)
        cleaned = {name: self._clean(name, value) for name, value in fields.items()}
        _nest({name: value for name, value in cleaned.items() if value is not None}, event)
        return event

    def _clean(self, name: str, value: Any) -> Any:
        """Return the redacted, size-capped value of one field."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if is_sensitive_key(name):
            return REDACTED
        if isinstance(value, str):
            return self.redactor.text(value)
        return self.redactor.clean(value, name)

    @staticmethod
    def _stack_trace(record: logging.LogRecord) -> str | None:
        """Return the whole traceback (chained causes, final "Type: message" line), or stack."""
        exc_info = sys.exc_info() if record.exc_info is True else record.exc_info
        if isinstance(exc_info, tuple) and exc_info[0] is not None:
            return "".join(traceback.format_exception(*exc_info))
        return str(record.stack_info) if record.stack_info else None


def escape_control(text: str) -> str:
    r"""Return ``text`` with control characters shown as escapes (``\n``, ``\x1b``…)."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class ConsoleFormatter(ECSFormatter):
    """Format a record as one readable line (time, level, logger, message, key fields).

    The event is the same redacted ECS event the JSON formatter emits; only its rendering
    differs. Stack traces follow on indented lines, each prefixed so it cannot pass for a
    log line of its own.
    """

    SHOWN = (
        ("http.request.id", "req"),
        ("http.request.method", "method"),
        ("url.path", "path"),
        ("http.response.status_code", "status"),
        ("event.duration", "ns"),
        ("user.id", "user"),
        ("client.ip", "ip"),
        ("event.action", "action"),
        ("labels", "labels"),
        ("error.type", "error"),
        ("error.message", "error_message"),
    )

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one human-readable line (plus an indented stack trace)."""
        return self.render(self.format_to_ecs(record))

    def render(self, event: dict[str, Any]) -> str:
        """Return the readable line of an event (nested, or with dotted keys at the top)."""
        parts = [
            str(event.get("@timestamp", "")),
            f"{str(lookup(event, 'log.level') or '').upper():<7}",
            str(lookup(event, "log.logger") or ""),
            str(event.get("message", "")),
        ]
        for path, label in self.SHOWN:
            value = lookup(event, path)
            if value is not None and value != {}:
                parts.append(f"{label}={value}")
        line = escape_control(" ".join(parts))
        stack = lookup(event, "error.stack_trace")
        if stack:
            # Continuation lines start with "  | " so a reader (or grep) cannot mistake a line
            # from a hostile exception message for a log line.
            rows = str(stack).rstrip("\n").split("\n")
            line += "".join(f"\n  | {escape_control(row)}" for row in rows)
        return line


def lookup(event: dict[str, Any], path: str) -> Any:
    """Return the field at a dotted ECS path of an event (nested or dotted), or None."""
    if path in event:  # "log.level" and "ecs.version" stand dotted at the top of a line
        return event[path]
    node: Any = event
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
