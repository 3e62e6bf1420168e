"""Dependencies are used through their public APIs only (docs/architecture.md).

A scan of src/: no import from a dependency's private module (``from x._y import``), no
``exec``/``eval``, none of the private names the product once used (prometheus_client's value
cells, Django's header store and response container, ``mmap_dict``, ecs-logging's ``_meta``),
and no private attribute of Django or DRF objects outside the short allowlist below, where a
public API truly lacks something.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.test import RequestFactory

SRC = Path(__file__).resolve().parent.parent / "src"

# Private names of dependencies that must not come back anywhere in src/.
FORBIDDEN_NAMES = {
    "_value",  # prometheus_client's value cells
    "_sum",
    "_cells",
    "_bounds",
    "_store",  # django.http.HttpResponse.headers._store
    "_container",  # django.http.HttpResponse._container
    "mmap_dict",  # prometheus_client.mmap_dict (undocumented file format)
    "_cached_user",  # django.contrib.auth's lazy user cache
    "_request",  # the HttpRequest inside a DRF Request (see the allowlist)
}
# ``obj._name`` reads that are documented public API although they start with "_", and the
# one place a public API is missing. Each entry: name -> files allowed ("*": any file).
ALLOWED: dict[str, set[str]] = {
    # Django documents the Model _meta API, _default_manager and instance._state.adding.
    "_meta": {"*"},
    "_default_manager": {"*"},
    "_state": {"*"},
    # namedtuple's public methods carry an underscore so they cannot clash with field names.
    "_replace": {"*"},
    "_asdict": {"*"},
    "_fields": {"*"},
    # DRF has no public accessor for the HttpRequest it wraps: one helper reads it.
    "_request": {"helpdesk/lib/drf.py"},
    # Sample-name suffixes of the exposition format (``x_sum``), not the library's attribute.
    "_sum": {"helpdesk/monitoring/history/sampler.py"},
}
# Attributes the product itself stores on requests and model instances it is handed.
FIRST_PARTY_PREFIXES = ("_helpdesk_", "_security_")
# Private attributes of first-party classes reached from outside ``self`` (a subclass calling
# its base's helper, a collector's own methods): prefixes of the receiver's source text.
FIRST_PARTY_RECEIVERS = ("self", "cls", "super()")


def _sources() -> list[tuple[str, str]]:
    return [(str(path.relative_to(SRC)), path.read_text()) for path in sorted(SRC.rglob("*.py"))]


def _private_attribute_reads(text: str) -> list[tuple[int, str, str]]:
    """Return (line, receiver, name) of every ``receiver._name`` in the module, spelled
    directly or through ``getattr``/``hasattr``/``setattr``/``delattr``."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Attribute):
            receiver, name = ast.unparse(node.value), node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "setattr", "delattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            receiver, name = ast.unparse(node.args[0]), node.args[1].value
        else:
            continue
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue  # public, or a dunder (__class__, __name__): the language's, not private
        found.append((node.lineno, receiver, name))
    return found


def test_it_imports_no_private_module_of_a_dependency() -> None:
    private = re.compile(r"^\s*(?:from|import)\s+((?!helpdesk\b)[\w.]*\._\w+)", re.MULTILINE)
    found = [(path, m.group(1)) for path, text in _sources() for m in private.finditer(text)]
    assert found == []


def test_it_has_no_exec_or_eval() -> None:
    found = [
        (path, node.lineno)
        for path, text in _sources()
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"exec", "eval"}
    ]
    assert found == []


def test_it_reads_no_private_attribute_of_objects_it_does_not_own() -> None:
    wrong = []
    for path, text in _sources():
        for line, receiver, name in _private_attribute_reads(text):
            if receiver.split(".")[0] in FIRST_PARTY_RECEIVERS or receiver.startswith("super()"):
                continue
            if name.startswith(FIRST_PARTY_PREFIXES):
                continue
            allowed = ALLOWED.get(name, set())
            if "*" in allowed or path in allowed:
                continue
            wrong.append(f"{path}:{line}: {receiver}.{name}")
    assert wrong == [], "private attributes of dependencies:\n" + "\n".join(wrong)


def test_it_never_names_the_known_private_internals() -> None:
    names = "|".join(sorted(FORBIDDEN_NAMES))
    pattern = re.compile(rf"""\.({names})\b|["']({names})["']|\bimport\s+.*\b({names})\b""")
    found = []
    for path, text in _sources():
        for number, line in enumerate(text.splitlines(), 1):
            match = pattern.search(line)
            if match and path not in ALLOWED.get(match.group(1) or match.group(2) or "", set()):
                found.append(f"{path}:{number}: {line.strip()}")
    assert found == []


def test_it_catches_what_it_looks_for() -> None:
    """The scans find the patterns they exist for (a scan that cannot fail proves nothing)."""
    reads = _private_attribute_reads(
        "x = response.headers._store\ny = self._cache\nz = getattr(request, '_cached_user', None)\n"
    )
    assert sorted(reads) == [
        (1, "response.headers", "_store"),
        (2, "self", "_cache"),
        (3, "request", "_cached_user"),
    ]
    private = re.compile(r"^\s*(?:from|import)\s+((?!helpdesk\b)[\w.]*\._\w+)", re.MULTILINE)
    assert private.search("from ecs_logging._meta import ECS_VERSION")
    assert not private.search("from helpdesk.monitoring._x import y")


def test_it_unwraps_the_django_request_of_a_drf_request() -> None:
    from rest_framework.request import Request

    from helpdesk.lib.drf import django_request

    http = RequestFactory().get("/api/v1/tickets/")
    assert django_request(Request(http)) is http
