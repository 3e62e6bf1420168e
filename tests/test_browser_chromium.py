"""The browser SDK in real Chromium against the real web server.

One browser for the module, one app server (`helpdesk serve`, gunicorn) and one page server on
another origin: the test page loads /static/helpdesk/monitor.js from the app, throws, rejects a
promise, shifts its layout and takes a slow click; its beacons must reach the app when it is
hidden or left, and land in the histograms of /metrics. For the SDK's own event format the page
server stands in for the envelope endpoint (the events are read as they were sent); the
end-to-end tests send to the app's error tracker and read the issues from its staff API, from
our SDK, from the official @sentry/browser and from @sentry/react's ErrorBoundary.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.browser import (
    FRONTEND,
    RATE_LIMITED_PROJECT,
    PageServer,
    build_pages,
    chromium,
    page_server,
)
from tests.services import free_port, wait_until
from tests.web_server import TOKEN, migrate, serve, server_env

pytestmark = pytest.mark.services

ROUTE = "/test/page"
PROJECT = 4242  # the page server's stand-in project
API_TOKEN = "monitoring-token-for-the-browser-tests-0123456789"
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


@dataclass(frozen=True)
class App:
    """The app server and the error tracking project the test pages send to."""

    base: str
    project: int
    key: str

    @property
    def dsn(self) -> str:
        return self.base.replace("://", f"://{self.key}@") + f"/{self.project}"

    def issues(self, project: int | str | None = None) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.base}/api/v1/monitoring/errors/issues/",
            params={"project": project or self.project, "page_size": 100},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=10,
        )
        response.raise_for_status()
        results: list[dict[str, Any]] = response.json()["results"]
        return results


def _helpdesk(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(Path(sys.executable).with_name("helpdesk")), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, pages: PageServer) -> Iterator[App]:
    tmp = tmp_path_factory.mktemp("app")
    env = server_env(
        tmp / "data",
        METRICS_TOKEN=TOKEN,
        MONITORING_API_TOKEN=API_TOKEN,
        WEB_CONCURRENCY="1",
        # admin/* is not listed: the server resolves the admin page to its route label.
        BROWSER_ROUTES=ROUTE,
        BROWSER_ACTIONS="save-ticket",
        BROWSER_ALLOWED_ORIGINS=pages.origin,
    )
    migrate(env)
    _helpdesk(env, "collectstatic", "--noinput", "-v0")
    # The project the test pages report to, accepting the page server's origin (CORS).
    created = _helpdesk(
        env,
        "shell",
        "-c",
        "from helpdesk.monitoring.errors.models import Project; "
        f"p = Project.objects.create(name='Web', slug='web', allowed_origins=['{pages.origin}']); "
        "print(p.pk, p.public_key)",
    )
    project, key = created.split()[-2:]
    port = free_port(24250, 24499)
    app = App(f"http://127.0.0.1:{port}", int(project), key)
    # The spec's frontend is served by the app itself (its fetch() calls are relative URLs):
    # next to the collected static files, before the server indexes them.
    spec = tmp / "data" / "static" / "spec"
    spec.mkdir()
    shutil.copy(pages.root / "spec-frontend.js", spec)
    shutil.copy(pages.root / "spec-frontend.js.map", spec)  # the error tracker maps frames
    (spec / "index.html").write_text(
        "<!doctype html><html><head><title>Spec frontend</title>"
        f'<script src="spec-frontend.js" data-dsn="{app.dsn}"></script></head>'
        "<body><p>Tickets</p></body></html>"
    )
    with serve(env, port, stdout=tmp / "server.log") as server:
        assert server.base == app.base
        yield app


def monitored_page(
    pages: PageServer,
    app: App,
    name: str = "monitored.html",
    *,
    api: str = "",
    dsn: str = "",
    sample_rate: str = "",
) -> str:
    """Write the monitored test page: monitor.js from the app, errors to the page server (or
    ``dsn``), measurements to the app (or to ``api``)."""
    dsn = dsn or f"http://{KEY}@127.0.0.1:{pages.port}/{PROJECT}"
    api_attribute = f' data-api="{api}"' if api else ""
    if sample_rate:
        api_attribute += f' data-sample-rate="{sample_rate}"'
    (pages.root / name).write_text(
        "<!doctype html><html><head><title>Ticket 7</title>"
        f'<script src="{app.base}/static/helpdesk/monitor.js" data-dsn="{dsn}" '
        f'data-route="{ROUTE}" data-release="web@1.0"{api_attribute}></script>'
        '<script src="monitored.js" defer></script></head>'
        '<body><h1 id="hero">Ticket 7: printer on fire</h1>'
        "<p>The printer on the third floor is on fire again.</p>"
        '<button id="save" data-action="save-ticket">Save</button></body></html>'
    )
    return f"{pages.origin}/{name}"


def metric(app: App, name: str, **labels: str) -> float:
    """Return a sample of the app's /metrics (0 when absent)."""
    text = requests.get(
        f"{app.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def envelopes(pages: PageServer, project: int = PROJECT) -> list[dict[str, Any]]:
    """Return the events of the envelopes posted to the page server's envelope endpoint."""
    events = []
    for post in pages.posts(f"/api/{project}/envelope/"):
        header, item, payload = post.body.decode().split("\n", 2)
        if json.loads(item) == {"type": "client_report"}:
            continue
        assert json.loads(item) == {"type": "event"}
        events.append({"header": json.loads(header), "post": post, **json.loads(payload)})
    return events


def discarded(pages: PageServer, page: str, project: int = PROJECT) -> dict[str, int]:
    """Return the SDK's client reports sent after ``page``'s posts: "reason:category" -> count."""
    counts: dict[str, int] = {}
    for post in pages.posts(f"/api/{project}/envelope/"):
        _, item, payload = post.body.decode().split("\n", 2)
        if json.loads(item) == {"type": "client_report"} and post.headers.get(
            "Referer", ""
        ).endswith(page):
            for entry in json.loads(payload)["discarded_events"]:
                key = f"{entry['reason']}:{entry['category']}"
                counts[key] = counts.get(key, 0) + entry["quantity"]
    return counts


def test_it_reports_vitals_interactions_and_errors_when_the_page_is_hidden(
    browser: Any, pages: PageServer, app: App
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
    browser: Any, pages: PageServer, app: App
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
    browser: Any, pages: PageServer, app: App
) -> None:
    # Sampled out (rate 0, decided once for the page view): no measurements, errors still.
    url = monitored_page(pages, app, "errors.html", api=pages.origin, sample_rate="0")
    page = browser.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_timeout(200)  # the page's own two errors
    page.evaluate("helpdeskMonitor.trackMessage('Import finished', 'warning')")
    page.evaluate("raise(5, true)")  # one error, five times: sent once
    page.evaluate("raise(20, false)")  # twenty distinct ones: six fit the budget
    page.evaluate(HIDE)
    page.wait_for_timeout(500)
    sent = [e for e in envelopes(pages) if e["request"]["url"].endswith("/errors.html")]
    assert len(sent) == 10, [e.get("message") or e["exception"] for e in sent]
    values = [e["exception"]["values"][0]["value"] for e in sent if "exception" in e]
    assert values.count("same failure") == 1
    assert [(e["level"], e["message"]) for e in sent if "message" in e] == [
        ("warning", "Import finished")
    ]
    assert not [p for p in pages.posts("/api/v1/analytics/") if b"errors.html" in p.body]
    # What was not sent is said in a Sentry client report: four repeats folded, fourteen
    # errors over the page's budget.
    wait_until(lambda: discarded(pages, "/errors.html"), timeout=10, message="no client report")
    assert discarded(pages, "/errors.html") == {
        "event_processor:error": 4,
        "queue_overflow:error": 14,
    }
    page.close()


def test_it_backs_off_when_rate_limited_and_reports_what_it_dropped(
    browser: Any, pages: PageServer, app: App
) -> None:
    dsn = f"http://{KEY}@127.0.0.1:{pages.port}/{RATE_LIMITED_PROJECT}"
    url = monitored_page(pages, app, "limited.html", api=pages.origin, dsn=dsn)
    page = browser.new_page()
    page.goto(url, wait_until="load")
    limited = f"/api/{RATE_LIMITED_PROJECT}/envelope/"
    # The page's own two errors: both sent, both answered 429 ("2::key": wait 2 s).
    wait_until(lambda: len(pages.posts(limited)) >= 2, timeout=10, message="no envelope sent")
    page.wait_for_timeout(300)
    page.evaluate("raise(3, false)")  # within the 2 s: not sent
    assert len(envelopes(pages, RATE_LIMITED_PROJECT)) == 2
    page.evaluate(HIDE)  # still limited: the client report waits too
    page.wait_for_timeout(300)
    assert discarded(pages, "/limited.html", RATE_LIMITED_PROJECT) == {}
    page.wait_for_timeout(2000)
    page.evaluate(HIDE)
    counts = wait_until(
        lambda: discarded(pages, "/limited.html", RATE_LIMITED_PROJECT),
        timeout=10,
        message="no client report after the rate limit passed",
    )
    # Two refused with 429, three not sent while backing off.
    assert counts == {"ratelimit_backoff:error": 5}
    page.close()


def test_it_reports_from_the_react_entry(browser: Any, pages: PageServer, app: App) -> None:
    dsn = f"http://{KEY}@127.0.0.1:{pages.port}/{PROJECT}"
    (pages.root / "our-react.html").write_text(
        "<!doctype html><html><head><title>React</title>"
        f'<script src="our-react.js" data-dsn="{dsn}" data-api="{pages.origin}"></script>'
        '</head><body><div id="root"></div></body></html>'
    )
    page = browser.new_page()
    page.goto(f"{pages.origin}/our-react.html", wait_until="load")
    page.wait_for_selector("#fallback")
    page.click("#assign")
    page.wait_for_timeout(300)
    page.evaluate(HIDE)

    def reported() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        events = [e for e in envelopes(pages) if e["request"]["url"].endswith("/our-react.html")]
        batches = [
            json.loads(p.body)
            for p in pages.posts("/api/v1/analytics/interactions/")
            if b"our-react.html" in p.body
        ]
        return (events, batches) if events and batches else None

    events, batches = wait_until(reported, timeout=10, message="nothing from the React page")
    value = events[0]["exception"]["values"][0]
    assert (value["type"], value["mechanism"]["type"]) == ("SyntaxError", "react")
    assert "componentStack" in events[0]["extra"]
    (interaction,) = batches[0]["interactions"]
    assert interaction["action"] == "assign-ticket"
    assert interaction["duration"] >= 100
    assert batches[0]["route"] == "/react/page"
    assert not [e for e in events if e.get("message") == "polling noise"]
    # The client report leaves in the same flush, after the batches.
    counts = wait_until(
        lambda: discarded(pages, "/our-react.html"), timeout=10, message="no client report"
    )
    assert counts == {"before_send:error": 1}
    page.close()


def _sentry_page(pages: PageServer, app: App, name: str, body: str = "") -> str:
    (pages.root / f"{name}.html").write_text(
        f"<!doctype html><html><head><title>{name}</title>"
        f'<script src="{name}.js" data-dsn="{app.dsn}"></script></head>'
        f"<body>{body}</body></html>"
    )
    return f"{pages.origin}/{name}.html"


def _issue(app: App, title: str, project: int | str | None = None) -> dict[str, Any]:
    """Wait for the issue whose title contains ``title``."""

    def found() -> dict[str, Any] | None:
        return next((i for i in app.issues(project) if title in i["title"]), None)

    try:
        return wait_until(found, timeout=15)
    except AssertionError:
        titles = [i["title"] for i in app.issues(project)]
        raise AssertionError(f"no issue {title!r} in {titles}") from None


def test_it_turns_the_sdks_errors_into_issues(browser: Any, pages: PageServer, app: App) -> None:
    page = browser.new_page()
    page.goto(monitored_page(pages, app, "tracked.html", dsn=app.dsn), wait_until="load")
    thrown = _issue(app, "TypeError: Cannot read properties of undefined")
    rejected = _issue(app, "Error: Comment not saved")
    assert thrown["level"] == rejected["level"] == "error"
    assert "web@1.0" in thrown["releases"]
    page.close()


def test_it_takes_events_from_the_official_sentry_browser_sdk(
    browser: Any, pages: PageServer, app: App
) -> None:
    page = browser.new_page()
    page.goto(_sentry_page(pages, app, "sentry-browser"), wait_until="load")
    parsed = _issue(app, "SyntaxError")
    assert "helpdesk-web@1.2.3" in parsed["releases"]
    message = _issue(app, "Checkout opened")
    assert message["level"] == "warning"
    page.close()


def test_it_takes_events_from_the_sentry_react_error_boundary(
    browser: Any, pages: PageServer, app: App
) -> None:
    page = browser.new_page()
    page.goto(_sentry_page(pages, app, "sentry-react", '<div id="root"></div>'))
    page.wait_for_selector("#fallback")
    issue = _issue(app, "RangeError: Ticket panel failed to render")
    assert issue["environments"] == ["test"]
    page.close()


def test_it_monitors_the_platforms_own_pages(browser: Any, app: App) -> None:
    # The admin's login page carries the SDK with the platform project's DSN (same origin,
    # under the admin's strict CSP): its Web Vitals land under its route label as the request
    # metrics give it, admin/* (the page declares none: the server resolves its URL), and an
    # error on it becomes an issue of the platform project, tagged with its route template.
    labels = {"metric": "FCP", "route": "admin/*", "device": "desktop"}
    before = metric(app, "browser_web_vital_seconds_count", **labels)
    page = browser.new_page()
    page.goto(f"{app.base}/admin/login/", wait_until="load")
    page.evaluate("() => { setTimeout(() => { throw new Error('Admin widget failed'); }); }")
    issue = _issue(app, "Error: Admin widget failed", project="platform")
    assert issue["level"] == "error"
    detail = requests.get(
        f"{app.base}/api/v1/monitoring/errors/issues/{issue['id']}/",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    ).json()
    assert detail["latest_event"]["data"]["tags"]["route"] == "/admin/login/"
    page.evaluate(HIDE)
    wait_until(
        lambda: metric(app, "browser_web_vital_seconds_count", **labels) > before,
        timeout=15,
        message="the admin page's Web Vitals did not reach /metrics",
    )
    page.close()


def test_it_serves_a_frontend_written_exactly_as_the_specs(browser: Any, app: App) -> None:
    # errorTracking.ts (@sentry/react, global handlers) and performanceMonitoring.ts (JSON
    # fetch() to the analytics endpoints), unchanged, on a page of the app's own origin.
    page_load = {"phase": "total", "route": "other"}
    before = metric(app, "browser_page_load_seconds_count", **page_load)
    clicks = metric(app, "browser_interaction_seconds_count", action="save-ticket", route="other")
    page = browser.new_page()
    page.goto(f"{app.base}/static/spec/index.html", wait_until="load")
    thrown = _issue(app, "Error: Spec page failed")
    assert "spec-frontend@1.0" in thrown["releases"]
    # The bundle's frames come back as their TypeScript source, through the build's map.
    source = FRONTEND / "tests" / "pages" / "spec-frontend.ts"
    line = 1 + source.read_text().splitlines().index('    throw new Error("Spec page failed");')
    detail = requests.get(
        f"{app.base}/api/v1/monitoring/errors/issues/{thrown['id']}/",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    ).json()
    frame = detail["latest_event"]["data"]["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["filename"].endswith("tests/pages/spec-frontend.ts"), frame
    assert frame["lineno"] == line
    _issue(app, "Spec page ready")
    wait_until(
        lambda: metric(app, "browser_page_load_seconds_count", **page_load) > before,
        timeout=15,
        message="the spec's page-load figures did not reach /metrics",
    )
    assert metric(
        app, "browser_interaction_seconds_count", action="save-ticket", route="other"
    ) == (clicks + 1)
    page.close()


def test_it_flushes_every_60_seconds_give_or_take_15(
    browser: Any, pages: PageServer, app: App
) -> None:
    page = browser.new_page()
    page.clock.install()  # the page's timers run on a clock the test moves

    def batches() -> list[Any]:
        return [p for p in pages.posts("/api/v1/analytics/") if b"periodic.html" in p.body]

    page.goto(monitored_page(pages, app, "periodic.html", api=pages.origin), wait_until="load")
    page.click("#save")
    page.clock.run_for(44_000)
    page.wait_for_timeout(300)
    assert not batches(), "flushed before 45 s"
    page.clock.run_for(32_000)  # 76 s: past the latest possible flush
    wait_until(batches, timeout=10, message="no flush within 75 s")
    page.close()
