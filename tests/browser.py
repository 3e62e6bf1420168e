"""Real Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright for
Python (never Playwright's own browser download, which cannot work here), test pages built
from frontend/tests/pages/ by esbuild, and a small page server that also records what is
posted to it.

Without Chromium, Playwright or the frontend's node_modules the tests skip with the reason,
and fail under HELPDESK_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.services import unavailable

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Yield a Playwright Browser running Debian's Chromium, with the back/forward cache on
    (Playwright turns it off by default)."""
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (make .venv/.synced)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        try:
            yield browser
        finally:
            browser.close()


def build_pages(out: Path) -> None:
    """Bundle frontend/tests/pages/*.ts(x) into ``out`` (esbuild, with source maps)."""
    node = Path(sys.executable).with_name("node")
    if not (FRONTEND / "node_modules" / ".installed").exists() or not node.exists():
        unavailable("the frontend's packages are not installed (make frontend)")
    subprocess.run(
        [str(node), str(FRONTEND / "build.mjs"), "--pages", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )


# Envelopes for this project id are answered 429 by the page server.
RATE_LIMITED_PROJECT = 429


@dataclass
class Posted:
    """A request the page server received."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PageServer:
    """Serves ``root`` and records every POST (an envelope or beacon receiver)."""

    root: Path
    port: int
    posted: list[Posted] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def posts(self, prefix: str) -> list[Posted]:
        return [post for post in list(self.posted) if post.path.startswith(prefix)]


@contextmanager
def page_server(root: Path, port: int) -> Iterator[PageServer]:
    """Run a PageServer on 127.0.0.1:``port`` until the block ends."""
    server = PageServer(root, port)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            server.posted.append(Posted(self.path, dict(self.headers.items()), body))
            if self.path.startswith(f"/api/{RATE_LIMITED_PROJECT}/"):
                # A project over its rate limit, answered as the app's envelope endpoint does.
                self.send_response(429)
                self.send_header("Retry-After", "2")
                self.send_header("X-Sentry-Rate-Limits", "2::key")
                self.send_header(
                    "Access-Control-Expose-Headers", "X-Sentry-Rate-Limits, Retry-After"
                )
            else:
                self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
