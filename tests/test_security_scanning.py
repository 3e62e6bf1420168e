"""Vulnerability scanning: the offline OSV path, pip-audit's skipped packages, bandit."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from packaging.version import Version

from helpdesk.monitoring.security import scanning

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "osv"
PINS = """\
# exported from uv.lock
django==5.2.19
requests==2.34.2 ; python_version >= "3.8"
urllib3==2.8.0
gunicorn==27.0.1
cryptography==50.0.2
-e .
"""


def test_it_parses_pinned_requirements() -> None:
    pins = scanning.parse_requirements(PINS)
    assert pins == {
        "django": "5.2.19",
        "requests": "2.34.2",
        "urllib3": "2.8.0",
        "gunicorn": "27.0.1",
        "cryptography": "50.0.2",
    }


def test_it_reports_vulnerable_pins_from_an_osv_folder() -> None:
    report = scanning.audit_with_osv(scanning.parse_requirements(PINS), FIXTURES)
    found = {(f.package, f.id): f for f in report.findings}
    assert set(found) == {
        ("django", "GHSA-test-dj01-0001"),
        ("requests", "PYSEC-test-req-0002"),
        ("urllib3", "PYSEC-test-ul04-0004"),
    }
    django = found[("django", "GHSA-test-dj01-0001")]
    assert django.aliases == ("CVE-2099-0001",)
    assert "5.2.99" in django.fixed
    assert found[("requests", "PYSEC-test-req-0002")].fixed == ()
    assert report.exit_code == scanning.EXIT_VULNERABLE
    text = "\n".join(report.lines())
    assert "VULNERABLE django 5.2.19: GHSA-test-dj01-0001 (CVE-2099-0001)" in text
    assert "gunicorn" not in text  # withdrawn
    assert "cryptography" not in text  # fixed before our version


def test_it_reads_a_zip_export(tmp_path: Path) -> None:
    archive = tmp_path / "PyPI.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for record in FIXTURES.glob("*.json"):
            handle.write(record, record.name)
    report = scanning.audit_with_osv({"django": "5.2.19"}, archive)
    assert [f.id for f in report.findings] == ["GHSA-test-dj01-0001"]


def test_it_is_clean_when_nothing_matches() -> None:
    report = scanning.audit_with_osv({"django": "5.2.99", "cryptography": "50.0.2"}, FIXTURES)
    assert report.findings == []
    assert report.exit_code == scanning.EXIT_CLEAN


@pytest.mark.parametrize(
    ("version", "events", "expected"),
    [
        ("1.0", [{"introduced": "0"}], True),
        ("1.0", [{"introduced": "0"}, {"fixed": "1.0"}], False),
        ("0.9", [{"introduced": "0"}, {"fixed": "1.0"}], True),
        ("1.0", [{"introduced": "0.5"}, {"last_affected": "1.0"}], True),
        ("1.0.1", [{"introduced": "0.5"}, {"last_affected": "1.0"}], False),
        ("0.4", [{"introduced": "0.5"}, {"fixed": "1.0"}], False),
        ("2.1", [{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}], True),
        ("1.7", [{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}], False),
    ],
)
def test_it_matches_osv_ranges(version: str, events: list[dict[str, str]], expected: bool) -> None:
    assert scanning.in_range(Version(version), events) is expected


def test_it_counts_packages_pip_audit_skipped_as_not_audited() -> None:
    output = json.dumps(
        {
            "dependencies": [
                {"name": "django", "version": "5.2.19", "vulns": []},
                {
                    "name": "whitenoise",
                    "skip_reason": "Dependency not found on PyPI and could not be audited: "
                    "whitenoise (6.12.0)",
                },
            ],
            "fixes": [],
        }
    )
    report = scanning.parse_pip_audit(output)
    assert report.audited == 1
    assert report.exit_code == scanning.EXIT_NOT_AUDITED
    assert "NOT AUDITED whitenoise" in "\n".join(report.lines())


def test_it_fails_the_command_on_a_fixable_vulnerability(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(PINS)
    with pytest.raises(SystemExit) as exit_info:
        call_command("vuln_scan", osv=FIXTURES, requirements=requirements)
    assert exit_info.value.code == scanning.EXIT_VULNERABLE
    assert "GHSA-test-dj01-0001" in capsys.readouterr().out


def test_it_scans_the_real_lock_file_offline(capsys: pytest.CaptureFixture[str]) -> None:
    uv = ROOT / ".tools" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is bootstrapped by make into .tools/")
    with pytest.raises(SystemExit) as exit_info:
        call_command("vuln_scan", osv=FIXTURES, uv=str(uv))
    # The fixture advisory covers the locked Django 5.2.x.
    assert exit_info.value.code == scanning.EXIT_VULNERABLE


def test_it_passes_bandit_on_the_source() -> None:
    bandit = Path(sys.executable).parent / "bandit"
    result = subprocess.run(
        [str(bandit), "-q", "-c", "pyproject.toml", "-r", "src", "-ll", "-ii"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


NPM_LOCK = ROOT / "frontend" / "package-lock.json"


def test_it_reads_every_package_of_the_npm_lockfile() -> None:
    pairs = dict(scanning.parse_npm_lock(NPM_LOCK))
    assert "web-vitals" in pairs
    assert "esbuild" in pairs
    assert "helpdesk-frontend" not in pairs  # the project itself


def test_it_scans_the_npm_lockfile_against_an_osv_export() -> None:
    pairs = scanning.parse_npm_lock(NPM_LOCK)
    report = scanning.audit_with_osv(pairs, FIXTURES, ecosystem="npm")
    assert report.exit_code == scanning.EXIT_CLEAN  # the locked esbuild is past the fix
    assert report.audited == len(pairs)
    old = scanning.audit_with_osv([("esbuild", "0.24.0")], FIXTURES, ecosystem="npm")
    assert [f.id for f in old.findings] == ["GHSA-test-npm7-0007"]
    assert old.findings[0].package == "npm:esbuild"
    assert old.exit_code == scanning.EXIT_VULNERABLE


def test_it_never_calls_npm_packages_clean_without_npm_advisories() -> None:
    # The PyPI-only export audits no npm package, and an incomparable version is not audited.
    pypi_only = FIXTURES / "GHSA-test-dj01-0001.json"
    report = scanning.audit_with_osv(scanning.parse_npm_lock(NPM_LOCK), pypi_only, "npm")
    assert report.audited == 0
    assert report.exit_code == scanning.EXIT_NOT_AUDITED
    odd = scanning.audit_with_osv([("x", "2.0.0-next.3")], FIXTURES, ecosystem="npm")
    assert odd.not_audited == {"npm:x@2.0.0-next.3": "version not comparable"}


def test_it_counts_a_failed_npm_audit_as_not_audited() -> None:
    # What npm prints when the registry's audit service refuses (as a mirror does).
    output = json.dumps(
        {"message": "405 Method Not Allowed - POST …/advisories/bulk", "statusCode": 405}
    )
    report = scanning.parse_npm_audit(output, [("web-vitals", "6.2.3")])
    assert report.exit_code == scanning.EXIT_NOT_AUDITED
    assert "NOT AUDITED npm:web-vitals: 405 Method Not Allowed" in "\n".join(report.lines())
    assert scanning.parse_npm_audit("", [("a", "1.0.0")]).exit_code == scanning.EXIT_NOT_AUDITED


def test_it_reads_npm_audit_findings() -> None:
    output = json.dumps(
        {
            "auditReportVersion": 2,
            "vulnerabilities": {
                "esbuild": {
                    "name": "esbuild",
                    "via": [
                        {
                            "source": 1102341,
                            "title": "esbuild enables any website to send requests",
                            "url": "https://github.com/advisories/GHSA-67mh-4wv8-2f99",
                        }
                    ],
                    "fixAvailable": {"name": "esbuild", "version": "0.25.0"},
                },
                "vite": {"name": "vite", "via": ["esbuild"], "fixAvailable": False},
            },
            "metadata": {"dependencies": {"total": 2}},
        }
    )
    report = scanning.parse_npm_audit(output, [("esbuild", "0.24.0"), ("vite", "5.0.0")])
    assert [(f.package, f.id, f.fixed) for f in report.findings] == [
        ("npm:esbuild", "GHSA-67mh-4wv8-2f99", ("esbuild@0.25.0",))
    ]
    assert report.exit_code == scanning.EXIT_VULNERABLE


def test_it_scans_both_lockfiles_in_one_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("cryptography==50.0.2\n")
    lock = tmp_path / "package-lock.json"
    lock.write_text(
        json.dumps(
            {
                "lockfileVersion": 3,
                "packages": {
                    "": {"name": "app"},
                    "node_modules/esbuild": {"version": "0.24.0"},
                },
            }
        )
    )
    with pytest.raises(SystemExit) as exit_info:
        call_command("vuln_scan", osv=FIXTURES, requirements=requirements, npm_lock=lock)
    assert exit_info.value.code == scanning.EXIT_VULNERABLE
    out = capsys.readouterr().out
    assert "VULNERABLE npm:esbuild 0.24.0: GHSA-test-npm7-0007" in out
    assert "2 packages audited" in out
