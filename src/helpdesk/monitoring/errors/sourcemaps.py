"""Map stack frames of the platform's own bundles back to their sources (Source Map v3).

The front-end build keeps ``<bundle>.js.map`` next to each bundle under the static files.
``SourceMapResolver.apply(frames)`` rewrites, in place, every frame whose ``abs_path`` is a
static URL of this app with a map: ``filename``/``abs_path``, ``lineno``, ``colno`` and
``function`` (from the map's ``names`` when the position has one, else from the enclosing
scope's name) come from the source; the minified location is kept under ``data.minified``.
Only files found by Django's static finders or under STATIC_ROOT are read, so a hostile
``abs_path`` cannot make the server read anything else. Parsed maps are cached per path and
modification time.

The decoder follows the spec (https://sourcemaps.info/spec.html): ``mappings`` is a list of
lines separated by ``;``, segments by ``,``, each segment 1, 4 or 5 base64 VLQ fields relative
to the previous segment (the generated column resets on each line).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

_BASE64 = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}
MAX_MAP_BYTES = 20 * 1024 * 1024


class SourceMapError(ValueError):
    """The source map cannot be decoded."""


def decode_vlq(segment: str) -> list[int]:
    """Return the integers of one base64 VLQ segment."""
    values: list[int] = []
    shift = value = 0
    for char in segment:
        try:
            digit = _BASE64[char]
        except KeyError:
            raise SourceMapError(f"invalid base64 VLQ character {char!r}") from None
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
        else:
            negative = value & 1
            value >>= 1
            values.append(-value if negative else value)
            shift = value = 0
    if shift:
        raise SourceMapError("truncated VLQ segment")
    return values


@dataclass(frozen=True)
class Position:
    """An original position (lines and columns 1-based, like stack frames)."""

    source: str
    line: int
    column: int
    name: str | None


# Lines that open a named function in JavaScript/TypeScript source: `function name(`,
# `name = function` / `name = (…) =>` / `name: async (…) =>`, and methods `name(…) {`.
_FUNCTION_OPENERS = re.compile(
    r"function\s*\*?\s*(?P<declared>[A-Za-z_$][\w$]*)\s*[(<]"
    r"|(?P<assigned>[A-Za-z_$][\w$]*)\s*[:=]\s*(?:async\s+)?(?:function\b|\([^)]*\)[^=]*=>|[A-Za-z_$][\w$]*\s*=>)"
    r"|^\s*(?:(?:public|private|protected|static|async|get|set)\s+)*(?P<method>[A-Za-z_$][\w$]*)\s*\([^)]*\)\s*(?::[^{]*)?\{"
)
_NOT_METHODS = {"if", "for", "while", "switch", "catch", "with", "return", "function"}
_SCAN_LINES = 200


class SourceMap:
    """A decoded source map: per generated line, sorted segments."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("version") != 3 or not isinstance(data.get("mappings"), str):
            raise SourceMapError("not a version 3 source map")
        root = str(data.get("sourceRoot") or "")
        self.sources = [root + str(s) for s in data.get("sources") or []]
        self.names = [str(n) for n in data.get("names") or []]
        contents = data.get("sourcesContent") or []
        self._contents = [c.splitlines() if isinstance(c, str) else None for c in contents]
        # Per generated line: columns and their (source, line, column, name) tuples.
        self._columns: list[list[int]] = []
        self._segments: list[list[tuple[int, int, int, int]]] = []
        source = line = column = name = 0
        for text in data["mappings"].split(";"):
            generated = 0
            columns: list[int] = []
            segments: list[tuple[int, int, int, int]] = []
            for raw in text.split(","):
                if not raw:
                    continue
                fields = decode_vlq(raw)
                generated += fields[0]
                if len(fields) < 4:
                    continue  # a segment without a source position
                source += fields[1]
                line += fields[2]
                column += fields[3]
                index = -1
                if len(fields) >= 5:
                    name += fields[4]
                    index = name
                columns.append(generated)
                segments.append((source, line, column, index))
            self._columns.append(columns)
            self._segments.append(segments)

    def lookup(self, line: int, column: int) -> Position | None:
        """Return the original position of a generated one (1-based line and column)."""
        if not 1 <= line <= len(self._columns):
            return None
        columns = self._columns[line - 1]
        at = bisect_right(columns, column - 1) - 1
        if at < 0:
            return None
        source, src_line, src_column, name = self._segments[line - 1][at]
        if not 0 <= source < len(self.sources):
            return None
        named = self.names[name] if 0 <= name < len(self.names) else None
        return Position(self.sources[source], src_line + 1, src_column + 1, named)

    def enclosing_function(self, source: str, line: int) -> str | None:
        """Return the name of the function around ``line`` of ``source``, from the map's
        ``sourcesContent`` (scanning upwards for a function opener), or None."""
        try:
            lines = self._contents[self.sources.index(source)]
        except (ValueError, IndexError):
            return None
        if not lines:
            return None
        for number in range(min(line, len(lines)) - 1, max(-1, line - 1 - _SCAN_LINES), -1):
            match = _FUNCTION_OPENERS.search(lines[number])
            if match is None:
                continue
            name = match["declared"] or match["assigned"] or match["method"]
            if name and name not in _NOT_METHODS:
                return name
        return None


@lru_cache(maxsize=32)
def _load(path: str, mtime: float) -> SourceMap | None:
    try:
        if os.path.getsize(path) > MAX_MAP_BYTES:
            logger.warning("source map %s is larger than %d bytes: ignored", path, MAX_MAP_BYTES)
            return None
        with open(path, encoding="utf-8") as handle:
            return SourceMap(json.load(handle))
    except (OSError, ValueError) as error:
        logger.warning("source map %s unusable: %s", path, error)
        return None


def _static_file(relative: str) -> str | None:
    """Return the file of a static path, or None; answers are kept for a minute (bucket),
    so a busy ingestion does not search the static folders for every frame."""
    return _find_static(relative, int(time.monotonic() // 60))


@lru_cache(maxsize=256)
def _find_static(relative: str, minute: int) -> str | None:
    from django.conf import settings
    from django.contrib.staticfiles import finders

    found = finders.find(relative)
    if isinstance(found, str):
        return found
    candidate = (Path(settings.STATIC_ROOT) / relative).resolve()
    root = Path(settings.STATIC_ROOT).resolve()
    if candidate.is_relative_to(root) and candidate.is_file():
        return str(candidate)
    return None


def map_for(abs_path: str) -> SourceMap | None:
    """Return the source map of a static bundle URL of this app, or None."""
    from django.conf import settings

    prefix = "/" + str(settings.STATIC_URL).strip("/") + "/"
    path = urlsplit(abs_path).path if "://" in abs_path else abs_path.split("?", 1)[0]
    if not path.startswith(prefix) or ".." in path.split("/"):
        return None
    relative = path[len(prefix) :] + ".map"
    found = _static_file(relative)
    if found is None:
        return None
    try:
        mtime = os.path.getmtime(found)
    except OSError:
        return None
    return _load(found, mtime)


def apply(frames: list[dict[str, Any]]) -> int:
    """Rewrite frames (oldest first) of our bundles to their sources; returns how many.

    A frame's function name is the function enclosing its source position (found in the
    map's ``sourcesContent``); else the map's name at its *caller's* call site (the name the
    source calls it by: a frame's own position names the token that was running there, not
    its function); else the frame keeps its own name.
    """
    mapped = 0
    call_name: str | None = None  # the name the previous (calling) frame's position carries
    for frame in frames:
        caller_name, call_name = call_name, None
        abs_path = frame.get("abs_path") or frame.get("filename")
        line, column = frame.get("lineno"), frame.get("colno")
        if not isinstance(abs_path, str) or not isinstance(line, int):
            continue
        source_map = map_for(abs_path)
        if source_map is None:
            continue
        position = source_map.lookup(line, column if isinstance(column, int) else 1)
        if position is None:
            continue
        call_name = position.name
        if not isinstance(frame.get("data"), dict):
            frame["data"] = {}
        frame["data"]["minified"] = {
            "abs_path": abs_path,
            "lineno": line,
            "colno": column,
            "function": frame.get("function"),
        }
        source = position.source
        function = source_map.enclosing_function(source, position.line) or caller_name
        while source.startswith(("../", "./")):
            source = source.split("/", 1)[1]
        frame.update(
            abs_path=source,
            filename=source,
            lineno=position.line,
            colno=position.column,
            in_app="node_modules/" not in source and frame.get("in_app") is not False,
        )
        if function:
            frame["function"] = function
        mapped += 1
    return mapped
