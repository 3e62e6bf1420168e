"""Formatters: ECS JSON lines (the default) and a readable console format for development.

``ECSFormatter`` builds on Elastic's ``ecs_logging.StdlibFormatter``: dotted ``extra`` keys
(``extra={"event.action": "authn_login_fail"}``) become nested ECS objects, exceptions become
``error.type``/``error.message``/``error.stack_trace``. On top it adds the service fields,
redacts secrets and caps field sizes on the finished event (so nothing, not the message, not
an exception text, not a stack trace, escapes redaction), uses the full traceback (with chained
causes) as the stack trace, and never loses a line to conflicting extras.

``ConsoleFormatter`` renders the same event as one human line. Control characters are escaped
so hostile input cannot start a second line or forge a field.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any

import ecs_logging

from helpdesk.monitoring.logging.redaction import Redactor

logger = logging.getLogger(__name__)

# ``message`` already carries the text; ``log.original`` would double every line's volume.
# Django passes the request object and status code as extras: the context filter already
# describes the request in ECS fields and maps the status code, so drop the raw ones.
_EXCLUDED = ("log.original", "_helpdesk_context", "request", "status_code")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _demote_clashes(record: logging.LogRecord, standard: set[str]) -> logging.LogRecord:
    """Return a copy of ``record`` whose clashing extras are moved under flat ``labels``.

    A key clashes when it is also the prefix of a dotted key ("user" and "user.id"); on a
    second failure every extra is demoted.
    """
    attrs = dict(record.__dict__)
    extras = [k for k in attrs if k not in standard and not k.startswith("_")]
    clashing = {k for k in extras if any(o.startswith(k + ".") for o in extras if o != k)}
    labels = attrs.get("labels") if isinstance(attrs.get("labels"), dict) else {}
    labels = dict(labels or {})
    for key in clashing:
        labels[key.replace(".", "_")] = str(attrs.pop(key))
    attrs["labels"] = labels
    return logging.makeLogRecord(attrs)


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
        kwargs.setdefault("exclude_fields", _EXCLUDED)
        super().__init__(extra=service or None, **kwargs)
        self.redactor = redactor or Redactor.from_environment(max_field_chars)

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of ECS JSON."""
        return ecs_logging._utils.json_dumps(self.event(record), ensure_ascii=self.ensure_ascii)

    def event(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the redacted, size-capped ECS event (a nested dict) for ``record``."""
        try:
            result = self.format_to_ecs(record)
        except (TypeError, ValueError):
            # Extras that clash (e.g. "user" and "user.id") must not cost the line.
            standard = set(self._LOGRECORD_DICT)
            try:
                result = self.format_to_ecs(_demote_clashes(record, standard))
            except (TypeError, ValueError):
                labels = {
                    k.replace(".", "_"): str(v)
                    for k, v in record.__dict__.items()
                    if k not in standard and not k.startswith("_")
                }
                bare = {k: v for k, v in record.__dict__.items() if k in standard}
                result = self.format_to_ecs(logging.makeLogRecord(bare))
                result["labels"] = labels
        cleaned: dict[str, Any] = self.redactor.clean(result)
        return cleaned

    def _record_error_stack_trace(self, record: logging.LogRecord) -> str | None:
        exc_info = record.exc_info
        if isinstance(exc_info, bool):
            exc_info = sys.exc_info() if exc_info else None
        if exc_info and exc_info[0] is not None:
            if self._stack_trace_limit == 0:
                return None
            # The whole traceback, chained causes and the final "Type: message" line included.
            lines = traceback.format_exception(*exc_info, limit=self._stack_trace_limit)
            return "".join(lines)
        stack_info = getattr(record, "stack_info", None)
        return str(stack_info) if stack_info else None


def escape_control(text: str) -> str:
    r"""Return ``text`` with control characters shown as escapes (``\n``, ``\x1b``…)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class ConsoleFormatter(ECSFormatter):
    """Format a record as one readable line (time, level, logger, message, key fields).

    The event is the same redacted ECS event the JSON formatter emits; only its rendering
    differs. Stack traces follow on indented lines, each prefixed so it cannot pass for a
    log line of its own.
    """

    _SHOWN = (
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
        event = self.event(record)
        parts = [
            str(event.get("@timestamp", "")),
            f"{str(event.get('log', {}).get('level', '')).upper():<7}",
            str(event.get("log", {}).get("logger", "")),
            escape_control(str(event.get("message", ""))),
        ]
        for path, label in self._SHOWN:
            value = _lookup(event, path)
            if value is not None and value != {}:
                parts.append(f"{label}={escape_control(str(value))}")
        line = " ".join(parts)
        stack = _lookup(event, "error.stack_trace")
        if stack:
            # Continuation lines start with "  | " so a reader (or grep) cannot mistake a line
            # from a hostile exception message for a log line.
            trace = "\n".join(
                "  | " + escape_control(row) for row in str(stack).rstrip("\n").split("\n")
            )
            line = f"{line}\n{trace}"
        return line


def _lookup(event: dict[str, Any], path: str) -> Any:
    node: Any = event
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
