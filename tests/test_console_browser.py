"""The monitoring console in real Chromium against the real web server (gunicorn) with demo
data (tests/console_demo.py): every page loads as staff without console errors, failed
requests or CSP violations, its charts are drawn, the actions work, and screenshots at 1280
and 390 px are written under the test's output folder (``screenshots/``) for review.

One browser, one server and one signed-in staff context for the module.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser import ROOT, chromium
from tests.console_demo import LOCKED_IP
from tests.services import free_port, unavailable
from tests.web_server import migrate, serve, server_env

pytestmark = pytest.mark.services

# (path, nav key): every console page. A page added to the console is added here.
PAGES = [
    ("/monitoring/", "overview"),
    ("/monitoring/requests/", "requests"),
    ("/monitoring/alerts/", "alerts"),
    ("/monitoring/errors/", "errors"),
    ("/monitoring/database/", "database"),
    ("/monitoring/system/", "system"),
    ("/monitoring/security/", "security"),
    ("/monitoring/business/", "business"),
]
WIDTHS = (1280, 390)
STAFF = ("staff", "console-staff-password")
READER = ("reader", "console-reader-password")
OUTSIDER = ("outsider", "console-outsider-password")
# Recorded before any page script runs (an init script is not subject to the page's CSP).
RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@dataclass
class Problems:
    """What went wrong on a page: console errors, failed requests, CSP violations."""

    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.console.append(str(error)))
        page.on("requestfailed", lambda r: self.requests.append(f"{r.url} {r.failure}"))
        page.on(
            "response",
            lambda r: self.requests.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )


@dataclass(frozen=True)
class App:
    base: str
    screenshots: Path


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    tmp = tmp_path_factory.mktemp("console")
    # Every page load is a dozen requests from 127.0.0.1; the per-address limit (100 a minute,
    # sign-in throttled) is configured for the run so a fast machine is not told to wait.
    env = server_env(
        tmp / "data",
        WEB_CONCURRENCY="1",
        PYTHONPATH=str(ROOT),
        SECURITY_RATE_LIMIT_PER_MINUTE="100000",
    )
    migrate(env)
    for command in (
        [str(Path(sys.executable).with_name("helpdesk")), "collectstatic", "--noinput", "-v0"],
        [sys.executable, "-m", "tests.console_demo"],
    ):
        subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, timeout=180)
    if not (tmp / "data" / "static" / "helpdesk" / "console.js").exists():
        unavailable("the console's script is not built (make frontend)")
    port = free_port(23000, 23099)
    with serve(env, port, stdout=tmp / "server.log") as server:
        yield App(server.base, tmp / "screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def sign_in(browser: Any, app: App, credentials: tuple[str, str]) -> Any:
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    context.add_init_script(RECORD_CSP)
    page = context.new_page()
    page.goto(f"{app.base}/monitoring/login/")
    page.fill("#id_username", credentials[0])
    page.fill("#id_password", credentials[1])
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    page.close()
    return context


@pytest.fixture(scope="module")
def staff(browser: Any, app: App) -> Iterator[Any]:
    context = sign_in(browser, app, STAFF)
    yield context
    context.close()


def load(context: Any, url: str, width: int) -> tuple[Any, Problems]:
    """Open ``url`` at ``width`` and wait until its charts are done."""
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    problems = Problems()
    problems.watch(page)
    page.goto(url, wait_until="load")
    page.evaluate("() => window.helpdeskConsole.ready")
    return page, problems


def test_it_sends_visitors_without_the_role_away(browser: Any, app: App) -> None:
    anonymous = browser.new_page()
    anonymous.goto(f"{app.base}/monitoring/")
    assert anonymous.url == f"{app.base}/monitoring/login/?next=/monitoring/"
    anonymous.close()
    outsider = sign_in(browser, app, OUTSIDER)
    page = outsider.new_page()
    assert page.goto(f"{app.base}/monitoring/").status == 403
    outsider.close()


@pytest.mark.parametrize(("path", "key"), PAGES)
def test_it_loads_every_page_cleanly_with_its_charts_drawn(
    staff: Any, app: App, path: str, key: str
) -> None:
    app.screenshots.mkdir(exist_ok=True)
    for width in WIDTHS:
        page, problems = load(staff, f"{app.base}{path}", width)
        figures = page.eval_on_selector_all(
            "figure[data-chart]",
            """figures => figures.map(f => {
                const canvas = f.querySelector("canvas");
                let inked = false;
                if (canvas) {
                  const {width, height} = canvas;
                  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
                  for (let i = 3; i < data.length; i += 4) {
                    if (data[i] !== 0) { inked = true; break; }
                  }
                }
                return {name: f.dataset.chart, state: f.dataset.state, inked,
                        rows: f.querySelectorAll(".chart-table-body tbody tr").length};
            })""",
        )
        assert figures, f"{path} has no chart"
        for found in figures:
            assert found["state"] == "drawn", (width, found)
            assert found["inked"], (width, found)
            assert found["rows"] > 0, (width, found)  # the table fallback
        assert page.evaluate("() => window.helpdeskConsole.charts()") == len(figures)
        assert page.evaluate("() => window.__cspViolations") == []
        assert page.locator('nav a[aria-current="page"][href^="/monitoring/"]').count() == 1
        # Nothing wider than the screen: tables and charts fit or scroll inside their card.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(app.screenshots / f"{key}-{width}.png"), full_page=True)
        page.close()
        assert problems.console == [], (width, problems.console)
        assert problems.requests == [], (width, problems.requests)


def test_it_reports_no_error_of_its_own_pages(staff: Any, app: App) -> None:
    # The console's pages carry the browser SDK: a script error on any of them (a chart that
    # throws, a ResizeObserver loop) would be an issue of the platform project by now.
    page = staff.new_page()
    response = page.request.get(f"{app.base}/api/v1/monitoring/errors/issues/?project=platform")
    assert response.status == 200
    titles = {issue["title"] for issue in response.json()["results"]}
    assert titles == {"ZeroDivisionError: division by zero"}  # the demo data's own issue
    page.close()


def test_it_acknowledges_and_silences_from_the_alerts_page(staff: Any, app: App) -> None:
    page, problems = load(staff, f"{app.base}/monitoring/alerts/?range=6h", WIDTHS[0])
    row = page.locator("tr", has_text="HighErrorRate")
    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state("load")
    assert page.url == f"{app.base}/monitoring/alerts/?range=6h"
    assert "HighErrorRate acknowledged." in page.locator(".messages").inner_text()
    assert page.locator("tr", has_text="HighErrorRate").locator(".badge", has_text="acked").count()

    page.locator("tr", has_text="HighErrorRate").get_by_role("link", name="Silence…").click()
    page.wait_for_load_state("load")
    assert 'alertname="HighErrorRate"' in page.locator("textarea[name=matchers]").input_value()
    page.select_option("select[name=duration]", "1h")
    page.fill("input[name=comment]", "investigating")
    page.get_by_role("button", name="Create silence").click()
    page.wait_for_load_state("load")
    assert "created until" in page.locator(".messages").inner_text()
    silences = page.locator("table.silences tr", has_text="investigating")
    assert silences.locator(".badge", has_text="active").count() == 1
    silences.get_by_role("button", name="Expire").click()
    page.wait_for_load_state("load")
    assert "expired" in page.locator(".messages").inner_text()
    ended = page.locator("table.silences tr", has_text="investigating")
    assert ended.locator(".badge", has_text="ended").count() == 1
    assert page.evaluate("() => window.__cspViolations") == []
    page.close()
    assert problems.console == []
    assert problems.requests == []


def test_it_shows_readers_no_actions(browser: Any, app: App) -> None:
    reader = sign_in(browser, app, READER)
    page, problems = load(reader, f"{app.base}/monitoring/alerts/", WIDTHS[0])
    assert "read-only" in page.locator(".who").inner_text()
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    assert page.get_by_role("button", name="Create silence").count() == 0
    reader.close()
    assert problems.console == []


def test_it_unlocks_from_the_security_page(staff: Any, app: App) -> None:
    page, problems = load(staff, f"{app.base}/monitoring/security/?range=6h", WIDTHS[0])
    row = page.locator("tr", has_text=LOCKED_IP).filter(has=page.get_by_role("button"))
    row.get_by_role("button", name="Unlock").click()
    page.wait_for_load_state("load")
    assert page.url == f"{app.base}/monitoring/security/?range=6h"
    assert f"Lifted the lockout of ip {LOCKED_IP}" in page.locator(".messages").inner_text()
    assert page.get_by_role("button", name="Unlock").count() == 0
    assert "Nobody is locked out." in page.content()
    assert page.evaluate("() => window.__cspViolations") == []
    page.close()
    assert problems.console == []
    assert problems.requests == []


def test_it_shows_the_public_status_page_to_anyone(browser: Any, app: App) -> None:
    app.screenshots.mkdir(exist_ok=True)
    context = browser.new_context()
    context.add_init_script(RECORD_CSP)
    for width in WIDTHS:
        page = context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        problems = Problems()
        problems.watch(page)
        response = page.goto(f"{app.base}/status/", wait_until="load")
        assert response.status == 200
        assert "public" in response.headers["cache-control"]
        assert page.locator("h1").inner_text() == "Service status"
        assert page.locator(".component").count() == 3
        # The demo's critical HighErrorRate is an ongoing incident, under its public title.
        assert "Elevated error rates" in page.locator(".incident-open").inner_text()
        assert "HighErrorRate" not in page.content()
        assert page.evaluate("() => window.__cspViolations") == []
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(app.screenshots / f"status-{width}.png"), full_page=True)
        page.close()
        assert problems.console == [], (width, problems.console)
        assert problems.requests == [], (width, problems.requests)
    context.close()
