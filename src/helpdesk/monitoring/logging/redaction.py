"""Remove secrets from log events and bound their size (OWASP Logging Cheat Sheet).

``Redactor.clean(event)`` walks a nested event (dicts, lists, scalars) and returns a copy in
which:

- a value whose key names a secret (password, token, authorization, cookie, session, csrf,
  secret, credential, anything ending in key…) anywhere in its dotted path is replaced by
  ``[REDACTED]``;
- every string is scanned for secrets by pattern: our ``hdk_…`` API tokens, ``Bearer``/``Basic``
  credentials, user:password in URLs/DSNs, ``name=…`` in query strings, form bodies and
  cookies and ``name: value`` text where the name is or ends in key, token, secret, password,
  pwd, signature, auth, session or credential (``key=``, ``api_key=``, ``X-Csrftoken:``), and
  the literal values of the secrets this process was configured with (METRICS_TOKEN,
  HEALTH_TOKEN, MONITORING_API_TOKEN, SECRET_KEY…);
- every string is cut to a maximum length with a marker saying how much was dropped, so hostile
  input cannot blow up log volume.

Control characters are left to the serializer: JSON escapes them, and the console formatter
escapes them itself. Patterns run on messages, exception messages and stack traces alike.
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

# Environment variables whose values are secrets: their literal values never reach a log.
SECRET_ENV_VARS = (
    "SECRET_KEY",
    "METRICS_TOKEN",
    "HEALTH_TOKEN",
    "MONITORING_API_TOKEN",
    "EMAIL_HOST_PASSWORD",
    "HELPDESK_ADMIN_PASSWORD",
)
# Shorter literal values would redact ordinary words.
_MIN_LITERAL_SECRET = 8

# A key is sensitive when one of its dotted segments contains one of these words, or ends in
# "key" (case-insensitive, "-" and "_" ignored: "X-CSRFToken", "api_key", "Set-Cookie", "key").
_SENSITIVE_KEY_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "session",
    "csrf",
    "privatekey",
    "credential",
    "dsn",
    "signature",
)
# Keys that contain a sensitive word but name something harmless we emit ourselves.
_SAFE_KEYS = frozenset({"event.category", "user.id", "http.request.id"})

# A parameter names a secret when its name is, or ends in, one of these words
# (case-insensitive): key, api_key, X-Api-Key, csrftoken, client_secret, db.password,
# sessionid, aws_credentials... Names are whole tokens (see the "param" pattern).
_PARAM_SUFFIXES = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "signature",
    "auth",
    "session",
    "sessionid",
    "session_id",
    "credential",
    "credentials",
)
_PARAM_NAMES = r"[A-Za-z0-9_.\-]*(?:" + "|".join(_PARAM_SUFFIXES) + ")"

# Every pattern needs one of these words (case-insensitive) to match: a scheme, or a parameter
# name (with "=" or ":"), or "://" (a DSN). Redactor.may_hold_secret tests for them before
# running the regex, so a line without any skips it.
_SCHEME_WORDS = ("hdk_", "bearer", "basic", "digest")
_PARAM_WORDS = (*_PARAM_SUFFIXES, "://")
_PATTERNS: tuple[tuple[str, str], ...] = (
    # Our API tokens: recognisable whatever surrounds them.
    ("hdk", r"\bhdk_[A-Za-z0-9_\-]{6,}"),
    # Authorization header values (and the same words in free text).
    (
        "scheme",
        r"\b(?P<scheme_head>(?:bearer|basic|digest)\s+)[A-Za-z0-9._~+/=\-]{6,}",
    ),
    # user:password@ in URLs and DSNs (postgres://u:p@h/db, redis://:p@h).
    ("dsn", r"(?P<dsn_head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+(?P<dsn_at>@)"),
    # A multipart form field: name="password" then a blank line then the value.
    (
        "multipart",
        r"(?P<multipart_head>name=\"(?:" + _PARAM_NAMES + r")\"\r?\n(?:[^\r\n]+\r?\n)*\r?\n)"
        r"[^\r\n]+",
    ),
    # name=value in query strings, form bodies and cookies; name: value and "name": "value"
    # in text and in reprs of dicts. A quoted value is redacted up to its closing quote. A name
    # starts where a token starts, so the scan stays linear in the text's length.
    (
        "param",
        r"(?P<param_head>(?<![A-Za-z0-9_.\-])[\"']?(?:" + _PARAM_NAMES + r")[\"']?\s*[=:]\s*)"
        r"(?P<param_value>\"[^\"]*\"|'[^']*'|[^\s\"'&;,}\]]+)",
    ),
)


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "hdk":
        return "hdk_" + REDACTED
    if kind == "scheme":
        return match["scheme_head"] + REDACTED
    if kind == "dsn":
        return match["dsn_head"] + REDACTED + match["dsn_at"]
    if kind == "multipart":
        return match["multipart_head"] + REDACTED
    if kind == "param":
        value = match["param_value"]
        quote = value[0] if value[0] in "\"'" else ""
        return f"{match['param_head']}{quote}{REDACTED}{quote}"
    return REDACTED  # a literal secret


@lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> bool:
    """Return True when a (dotted) field name names a secret."""
    if key in _SAFE_KEYS:
        return False
    for segment in key.lower().split("."):
        normalized = segment.replace("-", "").replace("_", "")
        if normalized.endswith("key") or any(word in normalized for word in _SENSITIVE_KEY_WORDS):
            # "author", "authority" are not credentials; "auth", "authorization" are.
            if normalized.startswith("author") and normalized != "authorization":
                continue
            return True
    return False


class Redactor:
    """Redact secrets and cap sizes in log events (see the module docstring)."""

    def __init__(
        self,
        max_chars: int = 8192,
        literal_secrets: Iterable[str] = (),
        long_fields: Mapping[str, int] | None = None,
    ) -> None:
        self.max_chars = max_chars
        # Stack traces are legitimately longer than other fields.
        self.long_fields = dict(long_fields or {"error.stack_trace": max_chars * 4})
        literals = sorted(
            {s for s in literal_secrets if s and len(s) >= _MIN_LITERAL_SECRET},
            key=len,
            reverse=True,
        )
        self._literals = tuple(literals)
        parts = [f"(?P<{name}>{pattern})" for name, pattern in _PATTERNS]
        if literals:
            parts.insert(0, "(?P<literal>" + "|".join(re.escape(s) for s in literals) + ")")
        self._pattern = re.compile("|".join(parts), re.IGNORECASE)

    @classmethod
    def from_environment(cls, max_chars: int = 8192) -> Redactor:
        """Return a Redactor that also knows the literal values of SECRET_ENV_VARS."""
        literals = [os.environ.get(name, "") for name in SECRET_ENV_VARS]
        return cls(max_chars=max_chars, literal_secrets=literals)

    def may_hold_secret(self, value: str) -> bool:
        """Return False when no pattern can match (cheap substring tests skip the regex).

        Every pattern needs one of _SCHEME_WORDS, or "=" or ":" together with one of
        _PARAM_WORDS (a parameter name, or "://" for a DSN), or a literal secret. For text
        beyond ASCII the regex always runs: case-insensitive matching folds characters
        (the Kelvin sign matches "k") that ``str.lower`` keeps apart.
        """
        if not value.isascii():
            return True
        lowered = value.lower()
        if any(word in lowered for word in _SCHEME_WORDS):
            return True
        if ("=" in value or ":" in value) and any(word in lowered for word in _PARAM_WORDS):
            return True
        return any(secret in value for secret in self._literals)

    def text(self, value: str, limit: int | None = None) -> str:
        """Return ``value`` with secrets replaced and cut to ``limit`` (default max_chars)."""
        limit = self.max_chars if limit is None else limit
        total = len(value)
        if total > limit * 2:
            # Cut before scanning so hostile input costs bounded regex time; the margin keeps
            # a secret that straddles the limit whole for the scan.
            value = value[: limit * 2]
        if self.may_hold_secret(value):
            value = self._pattern.sub(_replace, value)
        if total > limit and len(value) > limit:
            return f"{value[:limit]}…[truncated, {total} chars]"
        return value

    def clean(self, event: Any, path: str = "") -> Any:
        """Return a redacted, size-capped copy of a nested event."""
        if isinstance(event, str):
            return self.text(event, self.long_fields.get(path))
        if isinstance(event, Mapping):
            out: dict[str, Any] = {}
            for key, value in event.items():
                name = f"{path}.{key}" if path else str(key)
                if value is not None and is_sensitive_key(name) and not isinstance(value, Mapping):
                    out[key] = REDACTED
                else:
                    out[key] = self.clean(value, name)
            return out
        if isinstance(event, list | tuple | set | frozenset):
            return [self.clean(item, path) for item in event]
        if event is None or isinstance(event, bool | int | float):
            return event
        # Anything else (objects, bytes) is logged as its capped, redacted repr.
        return self.text(repr(event))
