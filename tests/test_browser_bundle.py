"""The browser SDK's bundles (frontend/, built by `make frontend`): present with source maps,
found by Django's static files, and small: the classic script with web-vitals' attribution build
inside stays at most 9 KB gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from tests.services import unavailable

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "src" / "helpdesk" / "static" / "helpdesk"
BUNDLES = ("monitor.js", "monitor.esm.js", "monitor-react.esm.js")
MAX_GZIP_BYTES = 9 * 1024


def built(name: str) -> Path:
    """Return a built bundle's path, or skip/fail when `make frontend` has not run."""
    path = STATIC / name
    if not path.exists():
        unavailable(f"{path.relative_to(ROOT)} is not built (make frontend)")
    return path


@pytest.mark.parametrize("name", BUNDLES)
def test_it_builds_each_bundle_with_its_source_map(name: str) -> None:
    path = built(name)
    assert path.read_text().rstrip().endswith(f"//# sourceMappingURL={name}.map")
    source_map = path.with_name(name + ".map")
    assert '"sources"' in source_map.read_text()


def test_it_keeps_the_classic_script_under_9_kb_gzipped() -> None:
    script = built("monitor.js").read_bytes()
    size = len(gzip.compress(script, compresslevel=9))
    assert size <= MAX_GZIP_BYTES, f"monitor.js is {size} bytes gzipped"
    # web-vitals' attribution build is inside (its attribution fields are in the bundle).
    assert b"largestShiftTarget" in script


def test_it_serves_the_bundles_as_static_files() -> None:
    built("monitor.js")
    found = finders.find("helpdesk/monitor.js")
    assert found is not None
    assert Path(str(found)).resolve() == (STATIC / "monitor.js").resolve()
