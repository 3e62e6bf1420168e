"""Parse and validate the analytics payloads into measurements, all or nothing.

Two forms per endpoint:

- the spec's (performanceMonitoring.ts, unchanged): ``{"domContentLoaded", "loadComplete",
  "totalTime"}`` to /performance/ and ``{"action", "duration"}`` to /interactions/, in
  milliseconds, with the page known from the Referer header;
- the SDK's batch: ``{"sentAt": epoch ms, "page": URL, "route": declared route, "traceId": the
  page's trace id (optional), "vitals":
  [{"name", "value", "id", "rating", "navigationType", "target"}], "pageLoad": {…the spec's
  three…}}`` to /performance/ and ``{"sentAt", "page", "route", "interactions": [{"action",
  "duration"}]}`` to /interactions/.

Any error raises ``Invalid`` with every field error (dotted paths), so a batch is recorded
whole or not at all. A batch sent more than BROWSER_MAX_BATCH_AGE_SECONDS ago (or that far in
the future) raises ``Stale``.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from helpdesk.monitoring.browser.budget import THRESHOLDS

logger = logging.getLogger(__name__)

MAX_ITEMS = 100
MAX_MILLISECONDS = 3_600_000.0  # an hour: longer is a clock or a bug, not a page
MAX_CLS = 100.0
PAGE_LOAD_FIELDS = {
    "domContentLoaded": "dom_content_loaded",
    "loadComplete": "load_complete",
    "totalTime": "total",
}
_RATINGS = {"good", "needs-improvement", "poor"}
_BATCH_FIELDS = {"sentAt", "page", "route", "traceId"}
# The page's trace id (from its traceparent meta tag, docs/tracing.md).
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


class Invalid(ValueError):
    """The payload has field errors: ``errors`` maps a dotted path to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid payload")
        self.errors = errors


class Stale(Invalid):
    """The batch was sent too long ago (or claims to be sent in the future)."""


@dataclass
class Vital:
    name: str
    value: float  # seconds, or the CLS score
    rating: str = ""
    target: str = ""


@dataclass
class Batch:
    """What one request carries: measurements in seconds (CLS unitless)."""

    page: str | None = None
    route: str | None = None
    trace_id: str | None = None
    vitals: list[Vital] = field(default_factory=list)
    page_load: dict[str, float] = field(default_factory=dict)  # phase → seconds
    interactions: list[tuple[str, float]] = field(default_factory=list)  # (action, seconds)


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Collect field errors while reading a JSON object."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def error(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def obj(self, value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.error(path or "body", "Expected a JSON object.")
            return {}
        for key in sorted(set(value) - allowed):
            self.error(_at(path, str(key)), "Unknown field.")
        return value

    def number(self, value: Any, path: str, maximum: float) -> float | None:
        # bool is an int in Python; JSON true is not a duration.
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, "Expected a number.")
            return None
        number = float(value)
        if not math.isfinite(number) or not 0 <= number <= maximum:
            self.error(path, f"Expected a number from 0 to {maximum:g}.")
            return None
        return number

    def text(self, value: Any, path: str, max_length: int, required: bool = False) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            self.error(path, "Expected a non-empty string." if required else "Expected a string.")
            return None
        if len(value) > max_length:
            self.error(path, f"At most {max_length} characters.")
            return None
        return value

    def items(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            self.error(path, "Expected a list.")
            return []
        if len(value) > MAX_ITEMS:
            self.error(path, f"At most {MAX_ITEMS} items per batch.")
            return []
        return value

    def batch_header(self, data: dict[str, Any], batch: Batch, now: float, max_age: float) -> None:
        batch.page = self.text(data.get("page"), "page", 2048)
        batch.route = self.text(data.get("route"), "route", 200)
        trace_id = self.text(data.get("traceId"), "traceId", 32)
        if trace_id is not None and not _TRACE_ID.fullmatch(trace_id):
            self.error("traceId", "Expected 32 lowercase hex digits.")
        else:
            batch.trace_id = trace_id
        sent_at = data.get("sentAt")
        if sent_at is not None:
            millis = self.number(sent_at, "sentAt", 1e14)
            if millis is not None and abs(now - millis / 1000.0) > max_age:
                raise Stale({"sentAt": [f"The batch is more than {max_age:g} seconds old."]})

    def page_load(self, data: dict[str, Any], path: str, batch: Batch) -> None:
        for name, phase in PAGE_LOAD_FIELDS.items():
            where = _at(path, name)
            if name not in data:
                self.error(where, "This field is required.")
                continue
            millis = self.number(data[name], where, MAX_MILLISECONDS)
            if millis is not None:
                batch.page_load[phase] = millis / 1000.0

    def vital(self, value: Any, path: str) -> Vital | None:
        data = self.obj(value, path, {"name", "value", "id", "rating", "navigationType", "target"})
        name = data.get("name")
        if name not in THRESHOLDS:
            self.error(f"{path}.name", f"Unknown metric; expected one of {', '.join(THRESHOLDS)}.")
            return None
        cls = name == "CLS"
        limit = MAX_CLS if cls else MAX_MILLISECONDS
        number = self.number(data.get("value"), f"{path}.value", limit)
        self.text(data.get("id"), f"{path}.id", 100)
        self.text(data.get("navigationType"), f"{path}.navigationType", 32)
        target = self.text(data.get("target"), f"{path}.target", 200) or ""
        rating = data.get("rating")
        if rating is not None and rating not in _RATINGS:
            self.error(f"{path}.rating", "Expected good, needs-improvement or poor.")
        if number is None:
            return None
        return Vital(name, number if cls else number / 1000.0, str(rating or ""), target)

    def interaction(self, value: Any, path: str) -> tuple[str, float] | None:
        data = self.obj(value, path, {"action", "duration"})
        action = self.text(data.get("action"), _at(path, "action"), 64, required=True)
        millis = self.number(data.get("duration"), _at(path, "duration"), MAX_MILLISECONDS)
        if action is None or millis is None:
            return None
        return action, millis / 1000.0

    def done(self, batch: Batch) -> Batch:
        if self.errors:
            raise Invalid(self.errors)
        return batch


def performance(value: Any, now: float, max_age: float) -> Batch:
    """Read a /performance/ payload (the spec's page-load figures or the SDK's batch)."""
    reader, batch = _Reader(), Batch()
    data = reader.obj(value, "", _BATCH_FIELDS | {"vitals", "pageLoad", *PAGE_LOAD_FIELDS})
    if not isinstance(value, dict):
        return reader.done(batch)
    reader.batch_header(data, batch, now, max_age)
    if any(name in data for name in PAGE_LOAD_FIELDS):
        reader.page_load(data, "", batch)
    elif data.get("pageLoad") is not None:
        page_load = reader.obj(data["pageLoad"], "pageLoad", set(PAGE_LOAD_FIELDS))
        if page_load:
            reader.page_load(page_load, "pageLoad", batch)
    for index, item in enumerate(reader.items(data.get("vitals", []), "vitals")):
        vital = reader.vital(item, f"vitals.{index}")
        if vital is not None:
            batch.vitals.append(vital)
    return reader.done(batch)


def interactions(value: Any, now: float, max_age: float) -> Batch:
    """Read an /interactions/ payload (the spec's single interaction or the SDK's batch)."""
    reader, batch = _Reader(), Batch()
    if isinstance(value, dict) and "interactions" not in value:
        item = reader.interaction(value, "")
        if item is not None:
            batch.interactions.append(item)
        return reader.done(batch)
    data = reader.obj(value, "", _BATCH_FIELDS | {"interactions"})
    if not isinstance(value, dict):
        return reader.done(batch)
    reader.batch_header(data, batch, now, max_age)
    for index, item in enumerate(reader.items(data.get("interactions", []), "interactions")):
        parsed = reader.interaction(item, f"interactions.{index}")
        if parsed is not None:
            batch.interactions.append(parsed)
    return reader.done(batch)
