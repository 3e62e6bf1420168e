"""Read what Sentry SDKs send: compressed bodies, envelopes, auth headers.

Every failure raises ``IngestError`` with the HTTP status to answer (400 malformed, 401 no
key, 413 too large…) and a message safe to return; nothing here touches the database.

An envelope (https://develop.sentry.dev/sdk/envelopes/) is a JSON header line, then items:
each a JSON item header line and a payload of ``length`` bytes (or up to the next newline
when the header has no length).
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

logger = logging.getLogger(__name__)

MAX_ITEMS = 100
MAX_DEPTH = 64
_AUTH_PAIR = re.compile(r"(\w+)\s*=\s*([^,\s]*)")
_KEY = re.compile(r"[0-9a-f]{32}")


class IngestError(Exception):
    """A request the ingestion endpoints refuse; ``status`` and ``detail`` go to the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Return the body decoded per Content-Encoding, refusing more than ``limit`` bytes out.

    gzip and deflate (zlib-wrapped, or raw as some clients send it) are decoded incrementally
    with a cap on the output, so a small gzip bomb costs at most ``limit`` bytes of memory.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise IngestError(413, f"Body too large: the limit is {limit} bytes.")
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = [zlib.MAX_WBITS | 16]
    elif encoding == "deflate":
        wbits = [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    else:
        raise IngestError(
            415, f"Unsupported Content-Encoding {encoding[:32]!r}: use gzip or deflate."
        )
    for bits in wbits:
        decoder = zlib.decompressobj(bits)
        try:
            out = decoder.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit:
            raise IngestError(413, f"Decompressed body too large: the limit is {limit} bytes.")
        if not decoder.eof:
            raise IngestError(400, f"Truncated {encoding} body.")
        return out
    raise IngestError(400, f"Body is not valid {encoding} data.")


def parse_auth(header: str) -> dict[str, str]:
    """Return the fields of an ``X-Sentry-Auth: Sentry sentry_key=…, sentry_version=7`` header."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "sentry":
        rest = header
    return {name.lower(): value for name, value in _AUTH_PAIR.findall(rest)}


def public_key_from_dsn(dsn: str) -> str | None:
    """Return the public key of a DSN (``scheme://KEY@host/project``), or None."""
    head, sep, _ = dsn.partition("@")
    if not sep:
        return None
    key = head.rsplit("/", 1)[-1].split(":", 1)[0]
    return key or None


def valid_key(key: str | None) -> bool:
    """Return True for a well-formed public key (32 lowercase hex characters)."""
    return bool(key) and _KEY.fullmatch(key or "") is not None


@dataclass(frozen=True)
class Item:
    """One envelope item: its type, header and raw payload."""

    type: str
    headers: dict[str, Any]
    payload: bytes

    def json(self) -> dict[str, Any]:
        """Return the payload as a JSON object; raises IngestError(400) otherwise."""
        return load_object(self.payload, f"{self.type} item")


def _too_deep(value: Any, limit: int) -> bool:
    # Only containers are walked: scalars cannot nest.
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def load_object(data: bytes, what: str) -> dict[str, Any]:
    """Return ``data`` parsed as a JSON object; raises IngestError(400) otherwise.

    Nesting is limited to MAX_DEPTH levels: later steps walk events recursively.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        # orjson refuses what the json module reads (NaN, Infinity, numbers out of range) and
        # SDKs may write: the json module decides; the common case stays fast.
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            detail = f"The {what} is not valid JSON (or nested too deeply)."
            raise IngestError(400, detail) from None
    if not isinstance(value, dict):
        raise IngestError(400, f"The {what} must be a JSON object.")
    if _too_deep(value, MAX_DEPTH):
        raise IngestError(400, f"The {what} is nested more than {MAX_DEPTH} levels deep.")
    return value


def _line(data: bytes, start: int) -> tuple[bytes, int]:
    end = data.find(b"\n", start)
    if end < 0:
        return data[start:], len(data)
    return data[start:end], end + 1


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[Item]]:
    """Return an envelope's header and items; raises IngestError(400) when malformed."""
    head, at = _line(data, 0)
    header = load_object(head, "envelope header")
    items: list[Item] = []
    while at < len(data):
        line, at = _line(data, at)
        if not line.strip():
            continue  # a trailing newline, or blank lines between items
        item_header = load_object(line, "item header")
        kind = item_header.get("type")
        if not isinstance(kind, str) or not kind:
            raise IngestError(400, "An envelope item has no type.")
        length = item_header.get("length")
        if length is None:
            payload, at = _line(data, at)
        else:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise IngestError(400, "An item length must be a non-negative integer.")
            if at + length > len(data):
                raise IngestError(400, "An envelope item is shorter than its length.")
            payload = data[at : at + length]
            at += length
            if data[at : at + 1] == b"\n":
                at += 1
        items.append(Item(kind, item_header, payload))
        if len(items) > MAX_ITEMS:
            raise IngestError(400, f"Too many items: at most {MAX_ITEMS} per envelope.")
    return header, items


# Sentry's discard reasons and data categories (develop.sentry.dev/sdk/telemetry/
# client-reports/): the label values a client report can produce; anything else is "other".
DISCARD_REASONS = frozenset(
    {
        "queue_overflow",
        "cache_overflow",
        "buffer_overflow",
        "ratelimit_backoff",
        "network_error",
        "sample_rate",
        "before_send",
        "event_processor",
        "send_error",
        "internal_sdk_error",
        "insufficient_data",
        "backpressure",
        "ignored",
        "invalid",
        "no_parent_span",
        "callback_error",
    }
)
DATA_CATEGORIES = frozenset(
    {
        "default",
        "error",
        "transaction",
        "span",
        "security",
        "attachment",
        "session",
        "profile",
        "profile_chunk",
        "replay",
        "feedback",
        "monitor",
        "log_item",
        "log_byte",
    }
)
MAX_DISCARDED_ENTRIES = 100
MAX_QUANTITY = 1_000_000  # per entry: a report of more is a broken client, not a count


def discarded(report: dict[str, Any]) -> list[tuple[str, str, int]]:
    """Return the (reason, category, quantity) entries of a client report's payload.

    Reasons and categories outside Sentry's lists become ``other``; malformed entries and
    quantities that are not positive integers are skipped; quantities are capped.
    """
    entries = report.get("discarded_events")
    if not isinstance(entries, list):
        return []
    out = []
    for entry in entries[:MAX_DISCARDED_ENTRIES]:
        if not isinstance(entry, dict):
            continue
        quantity = entry.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            continue
        reason, category = entry.get("reason"), entry.get("category")
        out.append(
            (
                reason if reason in DISCARD_REASONS else "other",
                category if category in DATA_CATEGORIES else "other",
                min(quantity, MAX_QUANTITY),
            )
        )
    return out
