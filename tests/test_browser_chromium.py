"""The browser SDK in real Chromium against the real web server.

One browser for the module, one app server (`helpdesk serve`, gunicorn) and one page server on
another origin: the test page loads /static/helpdesk/monitor.js from the app, throws, rejects a
promise, shifts its layout and takes a slow click; its beacons must reach the app when it is
hidden or left, and land in the histograms of /metrics. The page server stands in for the error
tracker's envelope endpoint here, so the events the SDK sends can be read as they were sent.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.browser import PageServer, build_pages, chromium, page_server
from tests.services import free_port, wait_until
from tests.web_server import _BIN, TOKEN, migrate, serve, server_env

pytestmark = pytest.mark.services

ROUTE = "/test/page"
PROJECT = 4242
KEY = "0123456789abcdef0123456789abcdef"
# Hide the page as web-vitals' own test suite does: headless pages stay "visible" otherwise.
HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    root = tmp_path_factory.mktemp("pages")
    build_pages(root)
    (root / "other.html").write_text("<!doctype html><title>Other</title><p>Elsewhere</p>")
    with page_server(root, free_port(24000, 24249)) as server:
        yield server


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, pages: PageServer) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("app")
    env = server_env(
        tmp / "data",
        METRICS_TOKEN=TOKEN,
        WEB_CONCURRENCY="1",
        BROWSER_ROUTES=ROUTE,
        BROWSER_ACTIONS="save-ticket",
        BROWSER_ALLOWED_ORIGINS=pages.origin,
    )
    migrate(env)
    subprocess.run(
        [str(_BIN / "helpdesk"), "collectstatic", "--noinput", "-v0"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with serve(env, free_port(24250, 24499), stdout=tmp / "server.log") as server:
        yield server.base


def monitored_page(pages: PageServer, app: str, name: str = "monitored.html", api: str = "") -> str:
    """Write the monitored test page: monitor.js from the app, errors to the page server,
    measurements to the app (or to ``api``)."""
    dsn = f"http://{KEY}@127.0.0.1:{pages.port}/{PROJECT}"
    api_attribute = f' data-api="{api}"' if api else ""
    (pages.root / name).write_text(
        "<!doctype html><html><head><title>Ticket 7</title>"
        f'<script src="{app}/static/helpdesk/monitor.js" data-dsn="{dsn}" '
        f'data-route="{ROUTE}" data-release="web@1.0"{api_attribute}></script>'
        '<script src="monitored.js" defer></script></head>'
        '<body><h1 id="hero">Ticket 7: printer on fire</h1>'
        "<p>The printer on the third floor is on fire again.</p>"
        '<button id="save" data-action="save-ticket">Save</button></body></html>'
    )
    return f"{pages.origin}/{name}"


def metric(app: str, name: str, **labels: str) -> float:
    """Return a sample of the app's /metrics (0 when absent)."""
    text = requests.get(
        f"{app}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def envelopes(pages: PageServer) -> list[dict[str, Any]]:
    """Return the events of the envelopes posted to the page server's envelope endpoint."""
    events = []
    for post in pages.posts(f"/api/{PROJECT}/envelope/"):
        header, item, payload = post.body.decode().split("\n", 2)
        assert json.loads(item) == {"type": "event"}
        events.append({"header": json.loads(header), "post": post, **json.loads(payload)})
    return events


def test_it_reports_vitals_interactions_and_errors_when_the_page_is_hidden(
    browser: Any, pages: PageServer, app: str
) -> None:
    vital = {"route": ROUTE, "device": "desktop"}
    before = {
        m: metric(app, "browser_web_vital_seconds_count", metric=m, **vital)
        for m in ["LCP", "FCP", "TTFB", "INP"]
    }
    cls_before = metric(app, "browser_web_vital_cls_count", **vital)
    clicks_before = metric(
        app, "browser_interaction_seconds_count", action="save-ticket", route=ROUTE
    )
    page = browser.new_page()
    beacons: list[Any] = []
    page.on("request", lambda r: beacons.append(r) if "/analytics/" in r.url else None)
    page.goto(monitored_page(pages, app), wait_until="load")
    page.wait_for_timeout(400)  # the banner's layout shift
    page.click("#save")
    page.wait_for_function("document.body.dataset.interaction === 'measured'")
    assert not beacons, "measurements must wait for the batch"
    page.evaluate(HIDE)

    def missing() -> list[str]:
        return [
            m
            for m in before
            if metric(app, "browser_web_vital_seconds_count", metric=m, **vital) <= before[m]
        ]

    try:
        wait_until(lambda: not missing(), timeout=20)
    except AssertionError:
        sent = [(r.url, r.post_data) for r in beacons]
        raise AssertionError(f"not in /metrics: {missing()}; sent: {sent}") from None
    assert metric(app, "browser_web_vital_cls_count", **vital) == cls_before + 1
    assert metric(app, "browser_interaction_seconds_count", action="save-ticket", route=ROUTE) == (
        clicks_before + 1
    )
    assert metric(app, "browser_page_load_seconds_count", phase="total", route=ROUTE) >= 1
    # The 250 ms click handler: INP is at least that, over the 0.2 s "good" bound.
    assert metric(
        app, "browser_web_vital_seconds_bucket", metric="INP", le="0.2", **vital
    ) < metric(app, "browser_web_vital_seconds_count", metric="INP", **vital)
    # A beacon: text/plain (no preflight) from the page's origin.
    sent = [r for r in beacons if r.url.endswith("/performance/")]
    assert sent and sent[0].headers["content-type"].startswith("text/plain")
    body = json.loads(sent[0].post_data)
    assert body["page"] == f"{pages.origin}/monitored.html"
    assert {v["name"] for v in body["vitals"]} >= {"LCP", "FCP", "TTFB", "CLS", "INP"}

    def page_events() -> list[dict[str, Any]]:
        return [e for e in envelopes(pages) if e["request"]["url"].endswith("/monitored.html")]

    events = wait_until(lambda: page_events() if len(page_events()) >= 2 else None)
    assert len(events) == 2
    by_type = {e["exception"]["values"][0]["type"]: e for e in events}
    thrown = by_type["TypeError"]["exception"]["values"][0]
    assert thrown["mechanism"] == {"type": "onerror", "handled": False}
    frames = thrown["stacktrace"]["frames"]
    assert frames[-1]["filename"] == f"{pages.origin}/monitored.js"
    assert frames[-1]["lineno"] >= 1 and frames[-1]["in_app"] is True
    rejected = by_type["Error"]
    value = rejected["exception"]["values"][0]["value"]
    # Scrubbed: no credentials, no query string.
    assert value == "Comment not saved: https://api.example.com/c"
    assert rejected["exception"]["values"][0]["mechanism"]["type"] == "onunhandledrejection"
    assert rejected["release"] == "web@1.0" and rejected["tags"] == {"route": ROUTE}
    assert rejected["request"]["url"] == f"{pages.origin}/monitored.html"
    post = rejected["post"]
    assert f"sentry_key={KEY}" in post.path
    assert post.headers["Content-Type"].startswith("text/plain")
    page.close()


def test_it_flushes_on_pagehide_and_starts_new_ids_after_a_bfcache_restore(
    browser: Any, pages: PageServer, app: str
) -> None:
    page = browser.new_page()

    # The page server receives these measurements, so the batches can be read as sent.
    def batches() -> list[dict[str, Any]]:
        posts = pages.posts("/api/v1/analytics/performance/")
        return [json.loads(p.body) for p in posts if b"restored.html" in p.body]

    page.goto(monitored_page(pages, app, "restored.html", api=pages.origin), wait_until="load")
    page.click("#save")
    page.wait_for_timeout(300)
    # Leaving the page: pagehide (and visibilitychange) flush the batch; no unload handler
    # keeps the page out of the back/forward cache.
    page.goto(f"{pages.origin}/other.html", wait_until="load")
    wait_until(batches, timeout=10, message="no beacon on pagehide")
    first = {v["id"] for batch in batches() for v in batch.get("vitals", [])}
    assert first
    # A page restored from the back/forward cache fires pageshow (persisted), not load.
    page.go_back(wait_until="commit")
    page.wait_for_function("document.body.dataset.restored === 'yes'", timeout=10_000)
    count = len(batches())
    page.click("#save")
    page.wait_for_timeout(300)
    page.evaluate(HIDE)
    wait_until(lambda: len(batches()) > count, timeout=10, message="no beacon after the restore")
    restored = [v for batch in batches()[count:] for v in batch.get("vitals", [])]
    assert restored
    assert {v["navigationType"] for v in restored} == {"back-forward-cache"}
    assert not first & {v["id"] for v in restored}
    page.close()


def test_it_sends_at_most_ten_errors_per_page_view_and_folds_repeats(
    browser: Any, pages: PageServer, app: str
) -> None:
    page = browser.new_page()
    page.goto(monitored_page(pages, app, "errors.html"), wait_until="load")
    page.wait_for_timeout(200)  # the page's own two errors
    page.evaluate("raise(5, true)")  # one error, five times: sent once
    page.evaluate("raise(20, false)")  # twenty distinct ones: seven fit the budget
    page.wait_for_timeout(500)
    sent = [e for e in envelopes(pages) if e["request"]["url"].endswith("/errors.html")]
    values = [e["exception"]["values"][0]["value"] for e in sent]
    assert len(sent) == 10, values
    assert values.count("same failure") == 1
    page.close()
