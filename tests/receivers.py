"""Real local receivers for notification tests: a Slack-compatible HTTP server and SMTP.

``HttpReceiver`` is a threaded HTTP server on an ephemeral loopback port that answers like a
Slack incoming webhook ("ok"), failing a chosen share of requests with 500, and records what
it accepted (body, headers) in order. ``SmtpReceiver`` is aiosmtpd's real SMTP server.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class HttpReceiver:
    """A Slack-compatible webhook receiver that fails ``failure_rate`` of requests."""

    def __init__(
        self,
        failure_rate: float = 0.0,
        status: int = 200,
        body: bytes = b"ok",
        delay: float = 0,
        get: Callable[[], bytes] | None = None,
    ) -> None:
        self.get = get  # answers GET with its result (a scrape target), else 404
        self.failure_rate = failure_rate
        self.status = status
        self.body = body
        self.delay = delay
        self.accepted: list[dict[str, Any]] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._rng = random.Random(8)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = receiver.get() if receiver.get else b"not found"
                self.send_response(200 if receiver.get else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                with receiver._lock:
                    receiver.requests += 1
                    fail = receiver._rng.random() < receiver.failure_rate
                    status = 500 if fail else receiver.status
                    if not fail and 200 <= status < 300:
                        receiver.accepted.append(
                            {"headers": dict(self.headers), "raw": raw, "json": _json(raw)}
                        )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                body = b"error" if fail else receiver.body
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/services/T000/B000/XXXX"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> Counter[str]:
        """Return how many times each idempotency key was accepted."""
        with self._lock:
            return Counter(item["headers"].get("Idempotency-Key", "") for item in self.accepted)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


class _Handler:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on an ephemeral loopback port."""

    def __init__(self) -> None:
        self.handler = _Handler()
        # aiosmtpd connects to its own port to check it started, so it needs a real number.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Any]:
        with self.handler.lock:
            return list(self.handler.messages)

    def keys(self) -> Counter[str]:
        """Return how many times each idempotency key arrived."""
        return Counter(str(m["X-Helpdesk-Idempotency-Key"]) for m in self.messages)
