"""The monitoring packages depend one way: publishers never import readers; no import cycles.

health, metrics, logging, security, database and system publish (checks, metrics, log lines,
signals, security events); alerting (and any later console or SLO package) reads them. The
imports are read from the source with ``ast``, including those inside functions, so a lazy
import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
MONITORING = "helpdesk.monitoring"
PUBLISHERS = {
    "health",
    "metrics",
    "logging",
    "security",
    "database",
    "system",
    "errors",
    "browser",
    "tracing",
}
READERS = {"alerting", "console", "slo", "history", "status"}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """Return the first-party module ``name`` refers to (an attribute's module), or None."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Yield the first-party modules ``path`` imports, anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from pkg import submodule`` depends on the submodule, not on pkg/__init__.
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target.startswith("helpdesk"):
                yield target


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        graph[module] = {target for target in _imported(path, modules) if target != module}
    return graph


def _package(module: str) -> str | None:
    parts = module.split(".")
    if (
        module.startswith(MONITORING + ".")
        and len(parts) > 2
        and (SRC / "helpdesk" / "monitoring" / parts[2]).is_dir()
    ):
        return parts[2]
    return None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package_graph(graph: dict[str, set[str]]) -> dict[str, dict[str, set[str]]]:
    """Return package → imported package → the modules that import it."""
    packages: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for module, targets in graph.items():
        source = _package(module)
        for target in targets:
            destination = _package(target)
            if source and destination and source != destination:
                packages[source][destination].add(module)
    return packages


def test_it_finds_the_monitoring_packages() -> None:
    graph = _graph()
    assert {_package(module) for module in graph} >= PUBLISHERS
    assert "alerting" in {_package(module) for module in graph}
    # The walk sees imports inside functions too.
    assert "helpdesk.monitoring.health.runner" in graph["helpdesk.monitoring.alerting.sources"]


def test_it_keeps_publishers_from_importing_readers() -> None:
    packages = _package_graph(_graph())
    wrong = {
        f"{source} -> {target}": sorted(modules)
        for source in PUBLISHERS
        for target, modules in packages.get(source, {}).items()
        if target in READERS
    }
    assert wrong == {}, "publishers import readers: " + repr(wrong)


def test_it_has_no_cycle_between_monitoring_packages() -> None:
    packages = _package_graph(_graph())
    graph = {source: set(targets) for source, targets in packages.items()}
    assert _cycles(graph) == []


def test_it_has_no_import_cycle_between_modules() -> None:
    assert _cycles(_graph()) == []


def test_it_detects_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _optional_first_party_imports(text: str) -> list[int]:
    """Return lines where first-party code is imported as if it might be missing."""
    lines = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Try):
            guarded = any(
                isinstance(handler.type, ast.Name)
                and handler.type.id in {"ImportError", "ModuleNotFoundError"}
                for handler in node.handlers
            )
            imports = [
                inner
                for statement in node.body
                for inner in ast.walk(statement)
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("helpdesk")
            ]
            if guarded and imports:
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).startswith("helpdesk")
        ):
            lines.append(node.lineno)
    return lines


def test_it_imports_first_party_packages_directly() -> None:
    """The product's packages are always installed: no ``try: import … except ImportError``."""
    found = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        for line in _optional_first_party_imports(path.read_text())
    ]
    assert found == []
    sample = "try:\n    from helpdesk.x import y\nexcept ImportError:\n    y = None\n"
    assert _optional_first_party_imports(sample) == [1]
    assert _optional_first_party_imports("m = importlib.import_module('helpdesk.x')\n") == [1]
