"""Formatters: ECS JSON lines (the default) and a readable console line for development.

``ECSFormatter.format_to_ecs`` extends Elastic's ``ecs_logging.StdlibFormatter``: Elastic's
standard fields (minus ``log.original``), the service fields, the full traceback as the stack
trace, and the record's extra attributes nested by their dotted names (a clash never costs the
line), all cleaned by the ``Redactor``. ``ConsoleFormatter`` renders the same event as one line
with control characters escaped, so hostile input cannot forge a line.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import ecs_logging

from helpdesk.lib.redaction import Redactor

logger = logging.getLogger(__name__)

# A LogRecord's own attributes: anything else is an extra field. Django's extras "request" and
# "status_code" are dropped: the context filter describes them in ECS fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_DROPPED = frozenset({"request", "status_code"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _leaves(fields: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield each field as (dotted name, value), a dict's fields leaf by leaf."""
    for key, value in fields.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _put(event: dict[str, Any], name: str, value: Any, clashes: dict[str, Any]) -> None:
    """Put the field ``name`` (dotted) into ``event``'s nested objects, extending those there.

    A plain value in the way ("user": "bob" with "user.id": "7") goes to ``clashes`` (written
    under ``labels``): the ECS object wins and the line is kept.
    """
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


class ECSFormatter(ecs_logging.StdlibFormatter):
    """Format a record as one ECS JSON line (see the module docstring).

    ``service`` holds the static fields (``service.name``…) merged into every event;
    ``max_field_chars`` caps each string field (the stack trace gets four times as much).
    """

    def __init__(
        self,
        service: dict[str, Any] | None = None,
        max_field_chars: int = 8192,
        **kwargs: Any,
    ) -> None:
        # Our own stack trace replaces Elastic's (frames only) in format_to_ecs.
        kwargs.setdefault("exclude_fields", ["log.original", "error.stack_trace"])
        super().__init__(**kwargs)
        self.service = dict(service or {})
        self.redactor = Redactor.from_environment(max_field_chars)

    def format_to_ecs(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the redacted, size-capped ECS event (a nested dict) for ``record``."""
        extras = {name: value for name, value in vars(record).items() if name not in _STANDARD}
        # Elastic's formatter makes the standard fields of a copy without the extras: they are
        # redacted and nested here, where a clash cannot raise.
        standard = copy.copy(record)
        for name in extras:
            delattr(standard, name)
        event = super().format_to_ecs(standard)
        redactor = self.redactor
        event["message"] = redactor.text(event["message"])
        if "message" in event.get("error", {}):
            event["error"]["message"] = redactor.text(event["error"]["message"])
        stack = _stack_trace(record)
        if stack:
            error = event.setdefault("error", {})
            error["stack_trace"] = redactor.text(stack, redactor.max_chars * 4)
        # The service fields, then the extras in the record's order (the later of two
        # spellings of a field wins).
        fields = {**self.service, **extras}
        clashes: dict[str, Any] = {}
        for name, value in _leaves(fields):
            if name not in _DROPPED and not name.startswith("_"):
                cleaned = redactor.clean(value, name)
                if cleaned is not None:
                    _put(event, name, cleaned, clashes)
        if clashes:
            labels = event.setdefault("labels", {})
            labels.update({k: v if isinstance(v, str) else str(v) for k, v in clashes.items()})
        return event


def _stack_trace(record: logging.LogRecord) -> str | None:
    """Return the whole traceback (chained causes, final "Type: message" line), or the stack."""
    exc_info = sys.exc_info() if record.exc_info is True else record.exc_info
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        return "".join(traceback.format_exception(*exc_info))
    return str(record.stack_info) if record.stack_info else None


def escape_control(text: str) -> str:
    r"""Return ``text`` with control characters shown as escapes (``\n``, ``\x1b``…)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class ConsoleFormatter(ECSFormatter):
    """Format a record as one readable line (time, level, logger, message, key fields).

    The event is the same redacted ECS event the JSON formatter writes. Stack trace lines
    follow, each prefixed with "  | " so a line of a hostile exception message cannot pass
    for a log line of its own.
    """

    SHOWN = {
        "http.request.id": "req",
        "http.request.method": "method",
        "url.path": "path",
        "http.response.status_code": "status",
        "event.duration": "ns",
        "user.id": "user",
        "client.ip": "ip",
        "event.action": "action",
        "error.type": "error",
        "error.message": "error_message",
    }

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one human-readable line (plus an indented stack trace)."""
        fields = dict(_leaves(self.format_to_ecs(record)))
        parts = [fields["@timestamp"], f"{fields['log.level'].upper():<7}", fields["log.logger"]]
        parts.append(fields["message"])
        parts += [f"{label}={fields[path]}" for path, label in self.SHOWN.items() if path in fields]
        parts += [f"{name}={value}" for name, value in fields.items() if name.startswith("labels.")]
        line = escape_control(" ".join(map(str, parts)))
        stack = fields.get("error.stack_trace") or ""
        return line + "".join(f"\n  | {escape_control(row)}" for row in stack.splitlines())
