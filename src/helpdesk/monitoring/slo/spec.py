"""The SLO file: load and validate it, with errors that name the line.

``load(path)`` returns the SLOs or raises ``SpecError`` listing every problem as
``file:line: message``. ``slos()`` returns the configured file's SLOs (``SLO_FILE``, else the
shipped ``slos.yml``), read once per process.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings

logger = logging.getLogger(__name__)

SHIPPED = Path(__file__).with_name("slos.yml")
EMBEDDED_KINDS = ("http_not_5xx", "http_not_500", "http_under_500ms", "first_response", "probes")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")
_WINDOW = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": 60, "h": 3600, "d": 86400}


class SpecError(ValueError):
    """The SLO file is invalid; ``errors`` holds one ``file:line: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class SLO:
    """One service level objective."""

    name: str
    description: str
    objective: float
    window: str
    good: str
    total: str
    embedded: str

    @property
    def budget(self) -> float:
        """Return the error budget: the share of events allowed to be bad."""
        return 1.0 - self.objective

    @property
    def window_seconds(self) -> int:
        return window_seconds(self.window)

    def query(self, which: str, window: str) -> str:
        """Return the PromQL of the good or total rate over ``window``."""
        template = self.good if which == "good" else self.total
        return template.replace("{window}", window)


def window_seconds(window: str) -> int:
    """Return the seconds of ``30d``, ``6h`` or ``5m``."""
    match = _WINDOW.fullmatch(window)
    if not match:
        raise ValueError(f"not a window: {window!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _scalar(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _mapping(node: yaml.Node) -> dict[str, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return {str(key.value): value for key, value in node.value}


Report = Callable[[yaml.Node | None, str], None]


def _number(node: yaml.Node | None) -> float | None:
    raw = _scalar(node) if node is not None else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _sli(node: yaml.Node, error: Report) -> tuple[str | None, str | None, str | None]:
    """Return the SLI's good and total queries and embedded kind (None where invalid)."""
    sli = _mapping(node)
    if sli is None:
        error(node, "`sli` must be a mapping with prometheus and embedded")
        return None, None, None
    queries = _mapping(sli["prometheus"]) if "prometheus" in sli else None
    good = total = None
    if queries is None:
        error(sli.get("prometheus", node), "`sli.prometheus` needs good and total")
    else:
        good = _scalar(queries["good"]) if "good" in queries else None
        total = _scalar(queries["total"]) if "total" in queries else None
        for key, value in (("good", good), ("total", total)):
            if not value or "{window}" not in value:
                error(queries.get(key, sli["prometheus"]), f"`{key}` needs `[{{window}}]`")
    embedded = _scalar(sli["embedded"]) if "embedded" in sli else None
    if embedded not in EMBEDDED_KINDS:
        error(sli.get("embedded", node), f"`embedded` must be one of {', '.join(EMBEDDED_KINDS)}")
        embedded = None
    return good, total, embedded


def _slo(item: yaml.Node, seen: set[str], error: Report) -> SLO | None:
    """Return one SLO, or None after reporting what is wrong with it."""
    fields = _mapping(item)
    if fields is None:
        error(item, "each SLO is a mapping")
        return None
    for unknown in sorted(set(fields) - {"name", "description", "objective", "window", "sli"}):
        error(fields[unknown], f"unknown field `{unknown}`")
    name = _scalar(fields["name"]) if "name" in fields else None
    if name is None or not _NAME.fullmatch(name):
        error(fields.get("name", item), "`name` must be lower case letters, digits and _")
        name = None
    elif name in seen:
        error(fields["name"], f"SLO `{name}` is defined twice")
    seen.add(name or "")
    objective = _number(fields.get("objective"))
    if objective is None or not 0.5 <= objective < 1:
        error(fields.get("objective", item), "`objective` must be a fraction in [0.5, 1)")
        objective = None
    window = _scalar(fields["window"]) if "window" in fields else None
    if window is None or not _WINDOW.fullmatch(window):
        error(fields.get("window", item), "`window` must look like 30d, 12h or 90m")
        window = None
    if "sli" not in fields:
        error(item, "`sli` is missing")
        return None
    good, total, embedded = _sli(fields["sli"], error)
    if not (name and objective is not None and window and good and total and embedded):
        return None
    description = _scalar(fields["description"]) if "description" in fields else ""
    return SLO(name, description or "", objective, window, good, total, embedded)


def load(path: Path) -> list[SLO]:
    """Read and validate an SLO file (see slos.yml for the shape)."""
    errors: list[str] = []

    def error(node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        errors.append(f"{path}:{line}: {message}")

    try:
        root = yaml.compose(path.read_text())
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(problem, "problem", "") or "syntax error"
        raise SpecError([f"{path}:{line}: not valid YAML ({reason})"]) from None
    except OSError as problem:
        raise SpecError([f"{path}: cannot read ({problem.strerror})"]) from None
    top = _mapping(root) if root is not None else None
    items = top.get("slos") if top else None
    if not isinstance(items, yaml.SequenceNode) or not items.value:
        error(root, "expected a mapping with a non-empty list `slos`")
        raise SpecError(errors)
    seen: set[str] = set()
    result = [slo for item in items.value if (slo := _slo(item, seen, error)) is not None]
    if errors:
        raise SpecError(errors)
    return result


@functools.cache
def _cached(path: str) -> tuple[SLO, ...]:
    return tuple(load(Path(path)))


def slos() -> list[SLO]:
    """Return the configured SLOs (``SLO_FILE`` or the shipped file)."""
    return list(_cached(settings.SLO_FILE or str(SHIPPED)))
