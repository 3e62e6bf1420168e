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

import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from weakref import ref

import ecs_logging
import orjson
from ecs_logging._meta import ECS_VERSION

from helpdesk.monitoring.logging.redaction import REDACTED, Redactor, is_sensitive_key

logger = logging.getLogger(__name__)

# ``message`` already carries the text; ``log.original`` would double every line's volume.
# Django passes the request object and status code as extras: the context filter already
# describes the request in ECS fields and maps the status code, so drop the raw ones.
_EXCLUDED = frozenset({"request", "status_code", "_helpdesk_context", "_helpdesk_line"})
# Where a formatter keeps the line it made of a record: several handlers (stdout, app.log)
# share one formatter, and the record is formatted once for all of them.
_LINE = "_helpdesk_line"
# The record filled last (by weak reference) and its fields, see ECSFormatter._filled: kept
# neither on the record nor alive by this slot, so no record holds memory past its handling.
_last_filled: list[tuple[Any, ...]] = [(lambda: None,)]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ASCII_CONTROL = bytes(range(0x20)) + b"\x7f"
# Fields whose values we produce ourselves (or validated): capped, but not scanned for secrets.
# (event.category and event.type are lists of ECS's allowed values, written by code.)
_TRUSTED = frozenset(
    {
        "@timestamp",
        "log.level",
        "log.logger",
        "ecs.version",
        "log.origin.function",
        "log.origin.file.name",
        "process.name",
        "process.thread.name",
        "service.name",
        "service.version",
        "service.environment",
        "event.dataset",
        "event.kind",
        "event.category",
        "event.type",
        "event.outcome",
        "http.request.id",
        "http.version",
        "client.ip",
        "user.id",
    }
)


# ".000" to ".999" of a timestamp, made once (formatting an int with :03d costs more).
_MILLIS = tuple(f"{n:03d}" for n in range(1000))
# Trusted strings are only capped, to this many characters.
_TRUSTED_CHARS = 256
_NUMBERS = frozenset({int, bool, float})
# Distinct record layouts remembered by a formatter (see ECSFormatter._layout).
_MAX_LAYOUTS = 256
# A record's extra fields, each (dotted name, parents, leaf, redacted value).
_Fields = list[tuple[str, tuple[str, ...], str, Any]]


def _short_strings(values: list[Any]) -> bool:
    """Return True when every item is a string no longer than a trusted field may be."""
    for item in values:  # noqa: SIM110 - a plain loop: all() with a generator costs more here
        if item.__class__ is not str or len(item) > _TRUSTED_CHARS:
            return False
    return True


def _flatten(prefix: str, value: dict[str, Any], out: dict[str, Any]) -> None:
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, dict):
            _flatten(name, item, out)
        else:
            out[name] = item


@lru_cache(maxsize=4096)
def _path(key: str) -> tuple[tuple[str, ...], str]:
    """Split a dotted name into its parents and leaf (``ecs.version`` stays whole)."""
    if key == "ecs.version":  # ECS keeps this one dotted at the top
        return (), key
    *parents, leaf = key.split(".")
    return tuple(parents), leaf


def _nest(fields: _Fields, result: dict[str, Any]) -> None:
    """Put (name, parents, leaf, value) fields into ``result`` nested by their dotted names.

    A clashing plain value goes under ``labels``: "user": "bob" with "user.id": "7" cannot both
    be nested, so the ECS object wins and the plain value is kept as ``labels.user`` rather
    than costing the line.
    """
    clashes: dict[str, Any] = {}
    for name, parents, leaf, value in fields:
        node = result
        for depth, part in enumerate(parents, 1):
            child = node.get(part)
            if child.__class__ is not dict:
                if child is not None:
                    clashes["_".join(parents[:depth])] = child
                child = node[part] = {}
            node = child
        if node.get(leaf).__class__ is dict:
            clashes[name.replace(".", "_")] = value
        else:
            node[leaf] = value
    if clashes:
        labels = result.setdefault("labels", {})
        labels.update({k: v if isinstance(v, str) else str(v) for k, v in clashes.items()})


class _Tree:
    """How to nest the fields of one record layout, worked out once for that layout.

    ``build`` makes the same dicts ``_nest`` would, without walking the parents of every
    field: it creates the inner dicts in a fixed order and drops each value into its slot.
    ``compile`` returns None when the fields clash (a plain value where an object goes), so
    that case keeps ``_nest``'s handling.
    """

    __slots__ = ("creates", "sets", "tops")

    def __init__(
        self,
        creates: tuple[tuple[int, str], ...],
        sets: tuple[tuple[int, str], ...],
        tops: frozenset[str],
    ) -> None:
        self.creates = creates  # (slot of the parent, key) of each inner dict, parents first
        self.sets = sets  # (slot of the dict, key) of each field's value, in field order
        self.tops = tops  # the top-level keys the fields occupy

    @classmethod
    def compile(cls, paths: Iterable[tuple[tuple[str, ...], str]]) -> _Tree | None:
        """Return the tree for fields at these (parents, leaf) paths, or None if they clash."""
        slots: dict[tuple[str, ...], int] = {(): 0}
        leaves: set[tuple[str, ...]] = set()
        creates: list[tuple[int, str]] = []
        sets: list[tuple[int, str]] = []
        for parents, leaf in paths:
            path: tuple[str, ...] = ()
            for part in parents:
                child = (*path, part)
                if child in leaves:
                    return None
                if child not in slots:
                    creates.append((slots[path], part))
                    slots[child] = len(slots)
                path = child
            if (*path, leaf) in slots or (*path, leaf) in leaves:
                return None
            leaves.add((*path, leaf))
            sets.append((slots[path], leaf))
        tops = frozenset(path[0] for path in (*slots, *leaves) if path)
        return cls(tuple(creates), tuple(sets), tops)

    def build(self, values: list[Any]) -> dict[str, Any]:
        """Return the nested dict of the fields' ``values`` (in the order they were compiled)."""
        root: dict[str, Any] = {}
        nodes = [root]
        for parent, key in self.creates:
            node = nodes[parent][key] = {}
            nodes.append(node)
        for (slot, key), value in zip(self.sets, values, strict=True):
            nodes[slot][key] = value
        return root


class _Flattened(list[tuple[str, tuple[str, ...], str, Any]]):
    """The redacted fields a dict value stands for (``{"request": {"id": …}}`` under "http")."""


class _Layout:
    """What a formatter works out once per record layout (the record's attribute names).

    Records from one call site carry the same attribute names in the same order, so which
    attributes are extra fields, which of those are trusted (capped only), scanned for
    secrets or secret by name, and where each nests are decided once, not on every line.
    Values are computed group by group (trusted, scanned, secret), in that order.
    """

    __slots__ = ("fields", "fill", "scanned", "secret", "tree", "trusted")

    def __init__(self, names: Iterable[str], standard: frozenset[str]) -> None:
        extras = [n for n in names if n not in standard and not n.startswith("_")]
        self.trusted = tuple(n for n in extras if n in _TRUSTED)
        self.scanned = tuple(n for n in extras if n not in _TRUSTED and not is_sensitive_key(n))
        self.secret = tuple(n for n in extras if n not in _TRUSTED and is_sensitive_key(n))
        index = {name: i for i, name in enumerate((*self.trusted, *self.scanned, *self.secret))}
        # In the record's order (later fields win over earlier ones), with their value's index.
        self.fields = tuple((name, *_path(name), index[name]) for name in extras)
        self.tree = _Tree.compile(_path(name) for name in index)
        self.fill = None if self.tree is None else _compile_fill(self)

    def nested(self, values: list[Any]) -> _Fields:
        """Return (name, parents, leaf, value) of each field present, dict values flattened."""
        fields: _Fields = []
        for name, parents, leaf, index in self.fields:
            value = values[index]
            if value.__class__ is _Flattened:
                fields.extend(value)
            elif value is not None:
                fields.append((name, parents, leaf, value))
        return fields


_Fill = Callable[[dict[str, Any], str, Any], "tuple[dict[str, Any], str] | None"]


def _flat_object(name: str, value: dict[str, Any], redactor: Redactor) -> dict[str, Any] | None:
    """Return the redacted copy of a one-level object of plain values (``labels``), or None.

    The same values the general way gives its flattened fields (``labels.organization``…),
    already nested; None when a key or value is anything else, or the object is empty (the
    general way leaves those out or keeps a null).
    """
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key.__class__ is not str or "." in key:
            return None
        full = f"{name}.{key}"
        cls = item.__class__
        if cls is str:
            if full in _TRUSTED:
                short = len(item) <= _TRUSTED_CHARS
                out[key] = item if short else redactor.text(item, _TRUSTED_CHARS)
            else:
                out[key] = REDACTED if is_sensitive_key(full) else redactor.text(item)
        elif cls in _NUMBERS:
            out[key] = item
        else:
            return None
    return out or None


def _literal(node: dict[str, Any]) -> str:
    """Return Python source for a nested dict whose leaves are variable names."""
    items = (
        f"{key!r}: {_literal(value) if isinstance(value, dict) else value}"
        for key, value in node.items()
    )
    return "{" + ", ".join(items) + "}"


def _compile_fill(layout: _Layout) -> _Fill:
    """Return a function that makes a layout's redacted, nested fields in one pass.

    ``fill(attrs, message, redactor)`` returns ``(fields, message)`` (the nested dict of the
    extra fields and the redacted message), or None when a value is not a plain string or
    number, which the general way handles. It does what ``_values`` and ``_Tree.build`` do,
    as straight-line code written for the layout's names (so no loop, no slot table), and it
    asks the redactor once whether any of the scanned strings (and the message) may hold a
    secret: when they can't, which is nearly always, none is scanned on its own.
    """
    lines = [
        "def fill(a, message, redactor):",
        "    text = redactor.text",
        "    texts = [message]",
        "    scan = texts.append",
    ]
    tree: dict[str, Any] = {}
    names = (*layout.trusted, *layout.scanned, *layout.secret)
    for number, name in enumerate(names):
        var = f"v{number}"
        parents, leaf = _path(name)
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = var
        lines += [f"    {var} = a[{name!r}]", f"    c = {var}.__class__"]
        if name in layout.trusted:
            lines += [
                "    if c is str:",
                f"        if len({var}) > {_TRUSTED_CHARS}:",
                f"            {var} = text({var}, {_TRUSTED_CHARS})",
                "    elif c not in NUMBERS and not (c is list and short(" + var + ")):",
                "        return None",
            ]
        elif name in layout.scanned:
            lines += [
                "    if c is str:",
                f"        scan({var})",
                "    elif c not in NUMBERS:",
                "        if c is not dict:",
                "            return None",
                f"        {var} = flat({name!r}, {var}, redactor)",
                f"        if {var} is None:",
                "            return None",
            ]
        else:
            lines += [
                "    if c is str:",
                f"        {var} = REDACTED",
                "    elif c not in NUMBERS:",
                "        return None",
            ]
    scanned = [f"v{names.index(name)}" for name in layout.scanned]
    lines += [
        "    joined = '\\n'.join(texts)",
        "    if len(joined) > redactor.max_chars or redactor.may_hold_secret(joined):",
        "        message = text(message)",
    ]
    lines += [f"        if {v}.__class__ is str: {v} = text({v})" for v in scanned]
    lines.append(f"    return {_literal(tree)}, message")
    namespace: dict[str, Any] = {
        "NUMBERS": _NUMBERS,
        "REDACTED": REDACTED,
        "short": _short_strings,
        "flat": _flat_object,
    }
    # The source is written here from the layout's field names, each as a repr() literal: no
    # text from a log record's values reaches it.
    code = compile("\n".join(lines), "<ecs layout>", "exec")
    exec(code, namespace)  # noqa: S102  # nosec B102
    fill: _Fill = namespace["fill"]
    return fill


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=True, check_circular=False
)
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _encode(value: Any) -> str:
    """Return compact JSON with sorted keys and only ASCII (control characters escaped).

    orjson is several times faster than the stdlib; a text with non-ASCII characters goes
    through the stdlib encoder instead, so that U+2028, U+0085 and friends are escaped (some
    tools take them for line breaks) and an ASCII-only stdout cannot choke on the line.
    """
    try:
        text = orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # an integer beyond 64 bits, say
        return _ENCODER.encode(value)
    return text if text.isascii() else _ENCODER.encode(value)


def _fragment(value: dict[str, Any]) -> orjson.Fragment | None:
    """Return ``value`` as pre-encoded JSON (sorted keys), or None unless it is plain ASCII."""
    try:
        encoded = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return None
    return orjson.Fragment(encoded) if encoded.isascii() else None


_MISSING = object()


def _remember(
    cache: dict[tuple[Any, ...], orjson.Fragment | None],
    key: tuple[Any, ...],
    value: dict[str, Any],
) -> orjson.Fragment | None:
    """Store and return ``value`` as a fragment under ``key`` (a bounded cache)."""
    fragment = _fragment(value)
    if len(cache) >= _MAX_LAYOUTS:
        cache.clear()
    cache[key] = fragment
    return fragment


@lru_cache(maxsize=64)
def _level_json(level: str) -> str:
    return '"log.level":' + _encode(level)


def dumps(event: dict[str, Any]) -> str:
    """Serialize an event as ecs-logging does: @timestamp, log.level, message first.

    The layout of ``ecs_logging._utils.json_dumps`` (those three first, then every other
    field with sorted keys), with one fast encoder.
    """
    head = []
    if "@timestamp" in event:
        head.append('"@timestamp":' + _encode(event.pop("@timestamp")))
    log = event.get("log")
    if isinstance(log, dict) and "level" in log:
        level = log.pop("level")
        # A handful of level names: encode each once.
        if level.__class__ is str:
            head.append(_level_json(level))
        else:
            head.append('"log.level":' + _encode(level))
        if not log:
            del event["log"]
    if "message" in event:
        head.append('"message":' + _encode(event.pop("message")))
    if not event:
        return "{" + ",".join(head) + "}"
    rest = _encode(event)
    return "{" + ",".join(head) + "," + rest[1:] if head else rest


class ECSFormatter(ecs_logging.StdlibFormatter):
    """Format a record as one ECS JSON object (see the module docstring).

    ``service`` holds the static fields (``service.name``…) merged into every event;
    ``max_field_chars`` caps each string field (stack traces get four times as much).
    ``share_fill`` lets formatters configured alike redact a record once between them (see
    ``_filled``): worth it where two formatters take every record (the console on stdout
    and JSON in ``app.log``), a little bookkeeping per line where one does.
    The fields and layout are those of ``ecs_logging.StdlibFormatter`` (minus
    ``log.original``, a copy of ``message``); the event is built in one flat pass so that
    redaction sees every field once and the line costs a fraction of the generic merge.
    """

    def __init__(
        self,
        service: dict[str, Any] | None = None,
        max_field_chars: int = 8192,
        redactor: Redactor | None = None,
        share_fill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = dict(service or {})
        self.share_fill = share_fill
        self._service_tree: dict[str, dict[str, Any]] = {}
        for key, value in self.service.items():
            top, _, rest = key.partition(".")
            if rest:
                self._service_tree.setdefault(top, {})[rest] = value
        self.redactor = redactor or Redactor.from_environment(max_field_chars)
        self._standard = frozenset(self._LOGRECORD_DICT) | _EXCLUDED
        self._second: tuple[int, str] = (-1, "")
        self._layouts: dict[tuple[str, ...], _Layout] = {}
        # The standard objects as pre-encoded JSON, for the fast line (see _line).
        self._service_json = {
            top: orjson.Fragment(orjson.dumps(static, option=_ORJSON_OPTIONS))
            for top, static in self._service_tree.items()
        }
        self._static_tops = frozenset(
            {"@timestamp", "message", "error", "ecs.version", "log", "process", *self._service_tree}
        )
        self._origins: dict[tuple[Any, ...], orjson.Fragment | None] = {}
        self._processes: dict[tuple[Any, ...], orjson.Fragment | None] = {}

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's text (made once per record and formatter, see ``_text``)."""
        attrs = record.__dict__
        cached = attrs.get(_LINE)
        if cached is not None and cached[0] is self:
            text: str = cached[1]
            return text
        text = self._text(record)
        attrs[_LINE] = (self, text)
        return text

    def _text(self, record: logging.LogRecord) -> str:
        """Return the line of ``dumps(self.event(record))``, the short way when it can.

        A record without an exception whose extra fields are plain and fit its layout's tree
        (the access line, most application lines) is encoded in one orjson call, with the
        standard objects (``log``, ``process``, ``service``) spliced in as JSON made once per
        logger and call site, process and thread. The text is the same, byte for byte, as
        the general way's (a test holds the two together); anything else takes that way.
        """
        line = self._short_line(record)
        return dumps(self.event(record)) if line is None else line

    def _short_line(self, record: logging.LogRecord) -> str | None:
        filled = self._filled(record)
        if filled is None:
            return None
        log = self._origin_json(record)
        process = self._process_json(record)
        if log is None or process is None:
            return None
        _, body, message, stamp = filled
        if self.share_fill:
            body = dict(body)  # the other formatters' fields: add to a copy
        body["ecs.version"] = ECS_VERSION
        body["log"] = log
        body["process"] = process
        body.update(self._service_json)
        try:
            encoded = orjson.dumps(body, option=_ORJSON_OPTIONS)
            text = orjson.dumps(message)
        except TypeError:  # an integer beyond 64 bits: the general way falls back to json
            return None
        if not (encoded.isascii() and text.isascii()):
            return None
        return "".join(
            (
                '{"@timestamp":"',
                stamp,
                '",',
                _level_json(record.levelname.lower()),
                ',"message":',
                text.decode(),
                ",",
                encoded.decode()[1:],
            )
        )

    def _filled(self, record: logging.LogRecord) -> tuple[_Layout, dict[str, Any], str, str] | None:
        """Return the layout, nested extra fields, message and timestamp the short way, or None.

        None for a record with an exception or stack, a layout that clashes or extends the
        standard objects, or a value that is not plain: the general way (``event``) does those.
        With ``share_fill``, formatters that share a Redactor (those configured alike, as
        stdout's and app.log's) fill a record once between them: handlers format a record one
        after the other, so the last record filled is remembered, for as long as no attribute
        is added to it (a handler's filter that adds one gets it on its line). The fields are
        then shared: the caller must not change them.
        """
        if record.exc_info or record.stack_info:
            return None
        if not self.share_fill:
            layout, filled, stamp = self._fill(record)
        else:
            attrs = record.__dict__
            count = len(attrs) - (_LINE in attrs)
            last = _last_filled[0]
            if (
                last[0]() is record
                and last[1] is self.redactor
                and last[2] is self._LOGRECORD_DICT  # the same standard names
                and last[3] == count
            ):
                layout, filled, stamp = last[4]
            else:
                done = self._fill(record)
                # One tuple replaces another: a thread that reads it sees a whole one.
                _last_filled[0] = (ref(record), self.redactor, self._LOGRECORD_DICT, count, done)
                layout, filled, stamp = done
        tree = layout.tree
        if filled is None or tree is None or not tree.tops.isdisjoint(self._static_tops):
            return None
        return layout, filled[0], filled[1], stamp

    def _fill(
        self, record: logging.LogRecord
    ) -> tuple[_Layout, tuple[dict[str, Any], str] | None, str]:
        layout = self._layout(record)
        fill = layout.fill
        filled = None if fill is None else fill(record.__dict__, record.getMessage(), self.redactor)
        return layout, filled, self._record_timestamp(record)

    def _origin_json(self, record: logging.LogRecord) -> orjson.Fragment | None:
        """Return the ``log`` object (logger and origin) as JSON, None if not plain ASCII."""
        key = (record.name, record.lineno, record.filename, record.funcName)
        fragment = self._origins.get(key, _MISSING)
        if fragment is _MISSING:
            fragment = _remember(
                self._origins, key, {"logger": record.name, "origin": self._origin(record)}
            )
        return fragment  # type: ignore[return-value]  # not _MISSING here

    def _process_json(self, record: logging.LogRecord) -> orjson.Fragment | None:
        """Return the ``process`` object as JSON, None if not plain ASCII."""
        key = (record.process, record.processName, record.thread, record.threadName)
        fragment = self._processes.get(key, _MISSING)
        if fragment is _MISSING:
            fragment = _remember(self._processes, key, self._process(record))
        return fragment  # type: ignore[return-value]  # not _MISSING here

    def _record_timestamp(self, record: logging.LogRecord) -> str:
        # strftime is the slow part: reuse the seconds of the previous record when they match.
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (
                second,
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)),
            )
        return f"{cached[1]}.{_MILLIS[int(record.msecs)]}Z"

    @staticmethod
    def _origin(record: logging.LogRecord) -> dict[str, Any]:
        origin: dict[str, Any] = {"file": {"line": record.lineno, "name": record.filename}}
        if record.funcName is not None:
            origin["function"] = record.funcName
        return origin

    @staticmethod
    def _process(record: logging.LogRecord) -> dict[str, Any]:
        thread: dict[str, Any] = {"id": record.thread}
        if record.threadName is not None:
            thread["name"] = record.threadName
        process: dict[str, Any] = {"pid": record.process, "thread": thread}
        if record.processName is not None:
            process["name"] = record.processName
        return process

    def _base(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the standard fields (ecs-logging's set) already nested."""
        return {
            "@timestamp": self._record_timestamp(record),
            "ecs.version": ECS_VERSION,
            "log": {
                "level": record.levelname.lower(),
                "logger": record.name,
                "origin": self._origin(record),
            },
            "process": self._process(record),
        }

    def _layout(self, record: logging.LogRecord) -> _Layout:
        """Return the layout of ``record``, worked out on its layout's first record."""
        names = tuple(record.__dict__)
        layout = self._layouts.get(names)
        if layout is None:
            layout = _Layout(names, self._standard)
            if len(self._layouts) >= _MAX_LAYOUTS:  # a caller inventing names per line
                self._layouts.clear()
            self._layouts[names] = layout
        return layout

    def _clean(self, name: str, value: Any, trusted: bool, sensitive: bool) -> Any:
        """Return the redacted, size-capped value of one extra field."""
        if isinstance(value, str):
            if trusted:
                short = len(value) <= _TRUSTED_CHARS
                return value if short else self.redactor.text(value, _TRUSTED_CHARS)
            return REDACTED if sensitive else self.redactor.text(value)
        if isinstance(value, bool | int | float):
            return value
        return REDACTED if sensitive else self.redactor.clean(value, name)

    def _values(self, record: logging.LogRecord, layout: _Layout) -> tuple[list[Any], bool]:
        """Return the redacted values of the layout's fields, and whether all are plain.

        Strings, numbers and short trusted lists are handled inline; anything else goes
        through ``_odd``, and then the values are not plain: they may not fit the layout's
        tree as they are.
        """
        attrs = record.__dict__
        text = self.redactor.text
        values: list[Any] = []
        append = values.append
        plain = True
        for name in layout.trusted:
            value = attrs[name]
            cls = value.__class__
            if cls is str:
                if len(value) > _TRUSTED_CHARS:
                    value = text(value, _TRUSTED_CHARS)
            elif cls not in _NUMBERS and not (cls is list and _short_strings(value)):
                value, plain = self._odd(name, value, trusted=True, sensitive=False), False
            append(value)
        for name in layout.scanned:
            value = attrs[name]
            cls = value.__class__
            if cls is str:
                value = text(value)
            elif cls not in _NUMBERS:
                value, plain = self._odd(name, value, trusted=False, sensitive=False), False
            append(value)
        for name in layout.secret:
            value = attrs[name]
            if value.__class__ is str:
                value = REDACTED
            elif value.__class__ not in _NUMBERS:
                value, plain = self._odd(name, value, trusted=False, sensitive=True), False
            append(value)
        return values, plain

    def _odd(self, name: str, value: Any, trusted: bool, sensitive: bool) -> Any:
        """Return the redacted value of a field that is not a plain string or number.

        None stays None (the field is left out); a dict becomes its flattened fields.
        """
        if value is None:
            return None
        if isinstance(value, dict):
            flat: dict[str, Any] = {}
            _flatten(name, value, flat)
            return _Flattened(
                (key, *_path(key), self._clean(key, item, key in _TRUSTED, is_sensitive_key(key)))
                for key, item in flat.items()
            )
        return self._clean(name, value, trusted, sensitive)

    def event(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the redacted, size-capped ECS event (a nested dict) for ``record``.

        Standard fields come from the record and the service settings (trusted, capped);
        the message, error fields and every extra are redacted by key name and by pattern.
        """
        redactor = self.redactor
        result = self._base(record)
        result["message"] = redactor.text(record.getMessage())
        for top, static in self._service_tree.items():
            result[top] = dict(static)
        error: dict[str, Any] = {}
        if record.exc_info:
            error_type = self._record_error_type(record)
            error_message = self._record_error_message(record)
            if error_type is not None:
                error["type"] = error_type
            if error_message is not None:
                error["message"] = redactor.text(error_message)
        stack = self._record_error_stack_trace(record)
        if stack:
            error["stack_trace"] = redactor.text(stack, redactor.long_fields["error.stack_trace"])
        if error:
            result["error"] = error
        layout = self._layout(record)
        values, plain = self._values(record, layout)
        tree = layout.tree
        if plain and tree is not None and tree.tops.isdisjoint(result):
            result.update(tree.build(values))
        else:  # fields that clash, or that extend the standard ones (log.*, service.*…)
            _nest(layout.nested(values), result)
        return result

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
    if text.isascii():
        # In ASCII, _CONTROL matches only these bytes: deleting them is a quicker test than
        # isprintable(), which looks every character up in the Unicode tables.
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_CONTROL)) == len(data):
            return text
    elif text.isprintable():  # every character _CONTROL matches is unprintable
        return text
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The compiled renderer of each layout (None: render() does that layout).
        self._renders: dict[_Layout, _Render | None] = {}

    def _text(self, record: logging.LogRecord) -> str:
        """Return the record as one human-readable line (plus an indented stack trace).

        A record the short way can take (see ``ECSFormatter._filled``) is rendered from its
        filled fields by its layout's compiled renderer, without the whole event; the text
        is the same as ``render``'s (a test holds the two together).
        """
        filled = self._filled(record)
        if filled is not None:
            layout, fields, message, stamp = filled
            renders = self._renders
            if layout in renders:
                render = renders[layout]
            else:
                if len(renders) >= _MAX_LAYOUTS:
                    renders.clear()
                render = renders[layout] = _compile_render(layout)
            if render is not None:
                level = record.levelname.lower().upper()  # as render() does with log.level
                head = f"{stamp} {level:<7} {record.name} {message}"
                return escape_control(render(fields, head))
        return self.render(self.event(record))

    def render(self, event: dict[str, Any]) -> str:
        """Return the readable line of an event (nested, or with dotted keys at the top)."""
        parts = [
            str(event.get("@timestamp", "")),
            f"{str(lookup(event, 'log.level') or '').upper():<7}",
            str(lookup(event, "log.logger") or ""),
            str(event.get("message", "")),
        ]
        for path, keys, label in _SHOWN_PATHS:
            # lookup(event, path), unrolled: this runs for every field of every line.
            if path in event:
                value = event[path]
            else:
                value = event
                for key in keys:
                    value = value.get(key) if isinstance(value, dict) else None
                    if value is None:
                        break
            if value is not None and value != {}:
                parts.append(f"{label}={value}")
        # One pass over the whole line: the separators and labels are printable, so this
        # escapes exactly the control characters of the values.
        line = escape_control(" ".join(parts))
        stack = lookup(event, "error.stack_trace")
        if stack:
            # Continuation lines start with "  | " so a reader (or grep) cannot mistake a line
            # from a hostile exception message for a log line.
            trace = "\n".join(
                "  | " + escape_control(row) for row in str(stack).rstrip("\n").split("\n")
            )
            line = f"{line}\n{trace}"
        return line


_SHOWN_PATHS = tuple(
    (path, tuple(path.split(".")), label) for path, label in ConsoleFormatter._SHOWN
)


_Render = Callable[[dict[str, Any], str], str]


def _compile_render(layout: _Layout) -> _Render | None:
    """Return a function that renders a layout's filled fields after a line's head, or None.

    ``render(fields, head)`` returns ``head`` and the shown fields the layout has, as
    ``ConsoleFormatter.render`` does, in straight-line code (no lookups of absent fields).
    None when a shown field could sit inside a dict value (``{"error": {"type": …}}``):
    whether it is there depends on the line, so ``render`` does that layout.
    """
    names = (*layout.trusted, *layout.scanned, *layout.secret)
    leaves = {(*parents, leaf) for parents, leaf in map(_path, names)}
    inner = {path[:depth] for path in leaves for depth in range(1, len(path))}
    lines = ["def render(f, head):"]
    text = "{head}"
    for _, keys, label in _SHOWN_PATHS:
        if keys in leaves or keys in inner:
            if not label.isidentifier():  # only plain words go into the f-string's text
                return None
            var = f"v{len(lines)}"
            lines.append(f"    {var} = f" + "".join(f"[{key!r}]" for key in keys))
            text += f" {label}={{{var}}}"
        elif any(keys[:depth] in leaves for depth in range(1, len(keys))):
            return None
    lines.append(f'    return f"{text}"')
    # Field names reach the source only as repr() literals, labels only as identifiers.
    code = compile("\n".join(lines), "<console layout>", "exec")
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102  # nosec B102
    render: _Render = namespace["render"]
    return render


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
