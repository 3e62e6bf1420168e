"""An OTLP/HTTP trace receiver for tests: a stdlib HTTP server decoding what exporters send.

No collector or Jaeger binary exists on these machines; the receiver accepts
``POST /v1/traces`` bodies (protobuf ``ExportTraceServiceRequest``, as the SDK's OTLP/HTTP
exporter sends them), keeps every span as a plain ``Span``, and can be told to hang (hold each
export without answering) to play a stalled collector, or to be down (drop each connection
without an answer).
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class Span:
    """One received span: ids as hex, attributes and resource as plain dicts."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status: int  # 0 unset, 1 ok, 2 error


@dataclass
class Receiver:
    """The spans received so far, and a switch that makes exports hang."""

    url: str = ""
    spans: list[Span] = field(default_factory=list)
    requests: int = 0
    hang: threading.Event = field(default_factory=threading.Event)
    down: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: bytes) -> None:
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        received = []
        for resource_spans in message.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        Span(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=KINDS.get(span.kind, str(span.kind)),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            resource=resource,
                            status=span.status.code,
                        )
                    )
        with self.lock:
            self.spans.extend(received)
            self.requests += 1

    def trace(self, trace_id: str) -> list[Span]:
        """Return the spans of one trace received so far."""
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> list[Span]:
        """Return the spans once ``predicate(spans)`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                spans = list(self.spans)
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"spans never matched; received {len(spans)}")
            time.sleep(0.1)

    def clear(self) -> None:
        with self.lock:
            self.spans.clear()
            self.requests = 0


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if receiver.hang.is_set():
                # A stalled collector: hold the export until the test lets go.
                while receiver.hang.is_set():
                    time.sleep(0.05)
                self.close_connection = True
                return
            if receiver.down.is_set():
                self.close_connection = True
                return
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            receiver.add(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    return Handler


@contextmanager
def otlp_receiver(port: int) -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1:``port`` until the block ends."""
    receiver = Receiver(url=f"http://127.0.0.1:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.hang.clear()
        server.shutdown()
        server.server_close()
