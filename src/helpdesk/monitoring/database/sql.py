"""Make SQL text safe to show: literals replaced by ``?``, comments dropped, length bounded.

pg_stat_activity shows the text a client sent, and Django inlines parameter values into it
(client-side binding), so an e-mail address or a token could appear there. Everything the
inspector shows passes through ``normalise`` first; pg_stat_statements text is already
normalised by PostgreSQL and goes through it too, for the length bound.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200

# One alternation, scanned left to right, so a quote inside a comment or a digit inside a
# string is consumed by the right branch. Each branch also accepts text cut off at the end,
# because pg_stat_activity truncates at track_activity_query_size.
_TOKENS = re.compile(
    r"""
    (?P<dollar>\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?(?:\$(?P=tag)\$|\Z))
    |(?P<estr>(?<!\w)[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z))
    |(?P<str>'(?:[^']|'')*(?:'|\Z))
    |(?P<ident>"(?:[^"]|"")*(?:"|\Z))
    |(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<num>(?<![\w$])\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
    """,
    re.S | re.X,
)
_SPACE = re.compile(r"\s+")


def _replace(match: re.Match[str]) -> str:
    if match.group("ident") is not None:
        return match.group("ident")
    if match.group("comment") is not None:
        return " "
    return "?"


def normalise(text: str | None, limit: int = MAX_QUERY_CHARS) -> str:
    """Return ``text`` with literal values replaced by ``?``, comments removed, at most
    ``limit`` characters (an ellipsis marks a cut). Identifiers and ``$n`` placeholders stay."""
    if not text:
        return ""
    cleaned = _SPACE.sub(" ", _TOKENS.sub(_replace, text)).strip()
    if len(cleaned) > limit:
        return cleaned[: limit - 1].rstrip() + "…"
    return cleaned
