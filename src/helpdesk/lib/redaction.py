"""Remove secrets from log events and bound their size (OWASP Logging Cheat Sheet).

One definition for every package that writes what it was sent: the log formatters, error
ingestion (``helpdesk.monitoring.errors``) and security events.

``Redactor`` returns cleaned copies: a value whose dotted key names a secret is ``[REDACTED]``;
every string is scanned for secrets by pattern (``hdk_`` tokens, ``Bearer``/``Basic``
credentials, user:password in URLs, ``name=value`` and ``name: value`` with a secret name, the
literal values of SECRET_ENV_VARS) and cut to a maximum length with a marker. Control
characters are left to the serializer (JSON escapes them; so does the console format).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
SECRET_ENV_VARS = (
    *("SECRET_KEY", "METRICS_TOKEN", "HEALTH_TOKEN", "MONITORING_API_TOKEN"),
    *("EMAIL_HOST_PASSWORD", "HELPDESK_ADMIN_PASSWORD"),
)
# Shorter literal values would redact ordinary words.
_MIN_LITERAL_SECRET = 8

# A key is sensitive when a dotted segment (lower case, "-" and "_" dropped) ends in "key" or
# contains one of these words ("X-CSRFToken", "api_key", "Set-Cookie"), "author…" excepted.
_KEY_WORDS = (
    *("password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "authorization"),
    *("auth", "cookie", "session", "csrf", "privatekey", "credential", "dsn", "signature"),
)

# A parameter names a secret when its name is, or ends in, one of these words.
_PARAM_SUFFIXES = (
    *("key", "token", "secret", "password", "passwd", "passphrase", "pwd", "signature", "auth"),
    *("session", "sessionid", "session_id", "credential", "credentials"),
)
_PARAM = r"[A-Za-z0-9_.\-]*(?:" + "|".join(_PARAM_SUFFIXES) + ")"
# Every pattern needs one of these words (case-insensitive) or a literal secret to match, so
# a string without any skips the regex (may_hold_secret).
_SCHEME_WORDS = ("hdk_", "bearer", "basic", "digest")
_PARAM_WORDS = (*_PARAM_SUFFIXES, "://")
_PATTERNS = {
    "hdk": r"\bhdk_[A-Za-z0-9_\-]{6,}",
    "scheme": r"\b(?P<scheme_head>(?:bearer|basic|digest)\s+)[A-Za-z0-9._~+/=\-]{6,}",
    # user:password@ in URLs and DSNs (postgres://u:p@h/db, redis://:p@h).
    "dsn": r"(?P<dsn_head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+(?=@)",
    # A multipart form field: name="password", a blank line, the value.
    "multipart": r"(?P<multipart_head>name=\"(?:" + _PARAM + r")\"\r?\n(?:[^\r\n]+\r?\n)*\r?\n)"
    r"[^\r\n]+",
    # name=value (query strings, forms, cookies), name: value and "name": "value" (text, reprs);
    # a quoted value up to its closing quote. A name starts where a token starts, so the scan
    # stays linear in the text's length.
    "param": r"(?P<param_head>(?<![A-Za-z0-9_.\-])[\"']?(?:" + _PARAM + r")[\"']?\s*[=:]\s*)"
    r"(?P<param_value>\"[^\"]*\"|'[^']*'|[^\s\"'&;,}\]]+)",
}


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "hdk":
        return "hdk_" + REDACTED
    if kind == "param":
        quote = match["param_value"][0] if match["param_value"][0] in "\"'" else ""
        return f"{match['param_head']}{quote}{REDACTED}{quote}"
    if kind in ("scheme", "dsn", "multipart"):
        return match[f"{kind}_head"] + REDACTED
    return REDACTED  # a literal secret


@lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> bool:
    """Return True when a (dotted) field name names a secret."""
    for segment in key.lower().split("."):
        word = segment.replace("-", "").replace("_", "")
        if word.startswith("author") and word != "authorization":
            continue  # "author", "authority" are not credentials
        if word.endswith("key") or any(secret in word for secret in _KEY_WORDS):
            return True
    return False


class Redactor:
    """Redact secrets and cap sizes in log events (see the module docstring)."""

    def __init__(self, max_chars: int = 8192, literal_secrets: Iterable[str] = ()) -> None:
        self.max_chars = max_chars
        literals = sorted(
            {s for s in literal_secrets if len(s) >= _MIN_LITERAL_SECRET}, key=len, reverse=True
        )
        self._literals = tuple(literals)
        parts = [f"(?P<{name}>{pattern})" for name, pattern in _PATTERNS.items()]
        if literals:
            parts.insert(0, "(?P<literal>" + "|".join(map(re.escape, literals)) + ")")
        self._pattern = re.compile("|".join(parts), re.IGNORECASE)

    @classmethod
    def from_environment(cls, max_chars: int = 8192) -> Redactor:
        """Return a Redactor that also knows the literal values of SECRET_ENV_VARS."""
        return cls(max_chars, [os.environ.get(name, "") for name in SECRET_ENV_VARS])

    def may_hold_secret(self, value: str) -> bool:
        """Return False when no pattern can match (substring tests cheaper than the regex).

        Text beyond ASCII always goes to the regex: its case-insensitive matching folds
        characters (the Kelvin sign matches "k") that ``str.lower`` keeps apart.
        """
        if not value.isascii():
            return True
        lowered = value.lower()
        if any(word in lowered for word in _SCHEME_WORDS):
            return True
        if ("=" in value or ":" in value) and any(word in lowered for word in _PARAM_WORDS):
            return True
        return any(secret in value for secret in self._literals)

    def text(self, value: str, limit: int | None = None, scan: bool = True) -> str:
        """Return ``value`` with secrets replaced (unless not ``scan``), cut to ``limit``."""
        limit = self.max_chars if limit is None else limit
        total = len(value)
        # Cut before scanning so hostile input costs bounded regex time; the margin keeps a
        # secret that straddles the limit whole for the scan.
        value = value[: limit * 2]
        if scan and self.may_hold_secret(value):
            value = self._pattern.sub(_replace, value)
        if total > limit and len(value) > limit:
            return f"{value[:limit]}…[truncated, {total} chars]"
        return value

    def clean(self, event: Any, path: str = "") -> Any:
        """Return a redacted, size-capped copy of a nested event (``path``: its dotted name)."""
        if event is None:
            return None
        scalar = isinstance(event, str | bool | int | float)
        if not scalar and isinstance(event, Mapping):
            return {k: self.clean(v, f"{path}.{k}" if path else str(k)) for k, v in event.items()}
        if path and is_sensitive_key(path):
            return REDACTED
        if scalar:
            return self.text(event) if isinstance(event, str) else event
        if isinstance(event, list | tuple | set | frozenset):
            return [self.clean(item, path) for item in event]
        # Anything else (objects, bytes) is logged as its capped, redacted repr.
        return self.text(repr(event))
