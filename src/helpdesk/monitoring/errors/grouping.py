"""Decide which issue an event belongs to: its fingerprint, title and culprit.

The fingerprint is the SHA-256 of the first of these that the event has:

1. the SDK's explicit ``fingerprint`` (``{{ default }}`` in it stands for rules 2-4);
2. the exception types and their in-app stack frames (module or file basename + function; no
   line numbers, query strings or content hashes), so a build, a browser or an edited line
   elsewhere in the file does not split an issue. Without in-app frames, all frames count;
3. the exception types and their normalised messages;
4. the normalised message (log messages, ``captureMessage``).

Normalising replaces what varies between occurrences (URLs, emails, UUIDs, IP addresses, hex
ids, numbers) with placeholders, so "Ticket 42 not found" and "Ticket 97 not found" are one
issue.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from helpdesk.monitoring.errors.stacks import frame_key, is_native

logger = logging.getLogger(__name__)

_PLACEHOLDERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>)]+", re.IGNORECASE), "<url>"),
    (re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b"), "<email>"),
    (
        re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}\b", re.IGNORECASE), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"(?<![\w<])[-+]?\d+(?:[.,]\d+)*(?![\w>])"), "<num>"),
)
MAX_TITLE = 255


def normalise_message(message: str) -> str:
    """Return ``message`` with variable parts replaced by placeholders (see module docstring)."""
    text = " ".join(message.split())[:2048]
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return text


@dataclass(frozen=True)
class Grouping:
    """Where an event goes and how its issue is named."""

    fingerprint: str
    title: str
    culprit: str
    components: tuple[str, ...]


def exceptions(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the event's exception values (outermost last, Sentry's order)."""
    container = event.get("exception")
    values = container.get("values") if isinstance(container, dict) else container
    if not isinstance(values, list):
        return []
    return [value for value in values if isinstance(value, dict)]


def frames_of(exception: dict[str, Any]) -> list[dict[str, Any]]:
    """Return an exception's stack frames, oldest first (empty when it has none)."""
    stacktrace = exception.get("stacktrace")
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    if not isinstance(frames, list):
        return []
    return [frame for frame in frames if isinstance(frame, dict) and not is_native(frame)]


def _grouping_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    in_app = [frame for frame in frames if frame.get("in_app") is True]
    return in_app or frames


def message_of(event: dict[str, Any]) -> str:
    """Return the event's message text (``logentry``/``message`` in Sentry's shapes)."""
    for key in ("logentry", "message"):
        value = event.get(key)
        if isinstance(value, dict):
            value = value.get("formatted") or value.get("message")
        if isinstance(value, str) and value:
            return value
    return ""


def _culprit(frames: list[dict[str, Any]], event: dict[str, Any]) -> str:
    transaction = event.get("transaction")
    for frame in reversed(_grouping_frames(frames)):
        where = frame.get("module") or frame.get("filename") or frame.get("abs_path") or ""
        return f"{where} in {frame.get('function') or '?'}"[:MAX_TITLE]
    return str(transaction or "")[:MAX_TITLE]


def _hash(components: list[str]) -> str:
    return hashlib.sha256("\n".join(components).encode()).hexdigest()


def default_components(event: dict[str, Any]) -> list[str]:
    """Return grouping components by rules 2-4 of the module docstring."""
    values = exceptions(event)
    with_frames = [(value, _grouping_frames(frames_of(value))) for value in values]
    if any(frames for _, frames in with_frames):
        components = []
        for value, frames in with_frames:
            components.append(f"type:{value.get('type') or 'Error'}")
            components.extend(f"frame:{frame_key(frame)}" for frame in frames)
        return components
    if values:
        return [
            f"exception:{value.get('type') or 'Error'}:"
            f"{normalise_message(str(value.get('value') or ''))}"
            for value in values
        ]
    return [f"message:{normalise_message(message_of(event))}"]


def group(event: dict[str, Any]) -> Grouping:
    """Return the fingerprint, title and culprit of a (normalised) event."""
    explicit = event.get("fingerprint")
    components: list[str]
    if isinstance(explicit, list) and explicit and all(isinstance(x, str) for x in explicit):
        components = []
        for part in explicit[:32]:
            if part == "{{ default }}":
                components.extend(default_components(event))
            else:
                components.append(f"custom:{part[:512]}")
    else:
        components = default_components(event)
    values = exceptions(event)
    if values:
        last = values[-1]
        kind = str(last.get("type") or "Error")
        text = str(last.get("value") or "")
        title = f"{kind}: {text}" if text else kind
        culprit = _culprit(frames_of(last), event)
    else:
        title = message_of(event) or "<no message>"
        culprit = str(event.get("transaction") or event.get("logger") or "")
    title = " ".join(title.split())[:MAX_TITLE]
    return Grouping(_hash(components), title, culprit[:MAX_TITLE], tuple(components))
