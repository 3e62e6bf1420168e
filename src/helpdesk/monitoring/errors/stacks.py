"""Parse JavaScript stack strings (V8/Chrome, SpiderMonkey/Firefox, JavaScriptCore/Safari)
into Sentry-style frames, and normalise frames so the same code gives the same frame.

Browsers print the same stack differently::

    Chrome   "    at HTMLButtonElement.onClick (https://host/static/app.js?v=2:10:5)"
    Firefox  "onClick@https://host/static/app.js?v=2:10:5"
    Safari   "onClick@https://host/static/app.js:10:5"

``parse_stack`` returns frames oldest first (Sentry's order) with ``function``, ``abs_path``,
``filename``, ``lineno`` and ``colno``. ``frame_key`` reduces a frame to what grouping uses:
the module or file basename (no query string, fragment or content hash) and the function's
own name (no receiver type, ``new``/``async`` prefixes or Firefox's ``/<`` suffixes).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

MAX_FRAMES = 100

_CHROME = re.compile(r"^\s*at (?:(?P<function>.+?) \((?P<loc>.+)\)|(?P<bare>.+))$")
_GECKO = re.compile(r"^\s*(?P<function>[^@]*)@(?P<loc>.+)$")
_LOCATION = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")
# A content hash in a bundle name: app.3f2a1b9c.js, app-3F2A1B9C.js, chunk.abcdef12.min.js
# (at least 8 characters with a digit, between separators, before the extension).
_HASH = re.compile(r"[.\-_](?=[0-9A-Za-z]*\d)[0-9A-Za-z]{8,}(?=\.)")
_ANONYMOUS = {"", "?", "<anonymous>", "anonymous", "global code", "eval code", "eval"}
_NATIVE_PATHS = {"<anonymous>", "native", "[native code]"}


def _location(text: str) -> tuple[str, int | None, int | None]:
    text = text.strip()
    if text.startswith("eval at ") or ", " in text:
        # "eval at fn (https://…:1:2), <anonymous>:3:4": keep the outer script's location.
        inner = re.search(r"\((?P<loc>[^()]+)\)", text)
        text = inner["loc"] if inner else text.rsplit(", ", 1)[-1]
    match = _LOCATION.match(text)
    if match is None:
        return text, None, None
    col = match["col"]
    return match["path"], int(match["line"]), int(col) if col else None


def parse_stack(stack: str) -> list[dict[str, Any]]:
    """Return the frames of a browser's ``Error.stack`` text, oldest first (may be empty)."""
    frames: list[dict[str, Any]] = []
    for line in stack.splitlines()[: MAX_FRAMES * 2]:
        if not line.strip():
            continue
        chrome = _CHROME.match(line)
        if chrome is not None:
            function = chrome["function"] or ""
            loc = chrome["loc"] or chrome["bare"] or ""
        else:
            gecko = _GECKO.match(line)
            if gecko is None:
                continue  # the "TypeError: message" head line of V8 stacks
            function, loc = gecko["function"], gecko["loc"]
            if "*" in function:
                # Firefox adds the frames that scheduled the call: "async*fn@…" after an
                # await (Chrome prints "at async fn" for those: kept), "setTimeout handler*",
                # "EventListener.handleEvent*", "promise callback*" (Chrome prints none).
                cause, _, function = function.partition("*")
                if cause != "async":
                    continue
        path, lineno, colno = _location(loc)
        frames.append(
            {
                "function": function.strip() or "?",
                "abs_path": path,
                "filename": path,
                "lineno": lineno,
                "colno": colno,
            }
        )
    frames.reverse()
    return frames[-MAX_FRAMES:]


def normalise_function(name: str | None) -> str:
    """Return a function's own name: ``HTMLButtonElement.onClick`` and ``onClick/<`` → onClick."""
    if not name:
        return "?"
    name = name.strip()
    for prefix in ("async ", "new "):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    name = re.sub(r"\s*\[as [^\]]+\]$", "", name)  # V8's "obj.fn [as alias]"
    if name.endswith("<"):
        return "?"  # Firefox's "outer/<": an anonymous function inside outer
    name = re.split(r"[./]", name)[-1] if name else name
    name = name.strip("<>")
    return "?" if name in _ANONYMOUS else name


def file_basename(path: str | None) -> str:
    """Return a frame file's basename without query string, fragment or content hash."""
    if not path:
        return ""
    path = urlsplit(path).path if "://" in path else path.split("?", 1)[0].split("#", 1)[0]
    base = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return _HASH.sub("", base)


def is_native(frame: dict[str, Any]) -> bool:
    """Return True for frames without source: browser internals and native code."""
    path = str(frame.get("abs_path") or frame.get("filename") or "")
    return path in _NATIVE_PATHS or path.startswith(("chrome-extension:", "moz-extension:"))


def frame_key(frame: dict[str, Any]) -> str:
    """Return the grouping identity of a frame: module (or file basename) and function."""
    module = frame.get("module")
    where = str(module) if module else file_basename(frame.get("filename") or frame.get("abs_path"))
    return f"{where}:{normalise_function(frame.get('function'))}"
