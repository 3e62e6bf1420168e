"""Real TCP endpoints for dependency-failure tests: a blackhole, a closed port, a forwarder.

- ``Blackhole``: accepts connections and never sends a byte (a hung server or a half-open
  firewall path): clients block until their own timeout.
- ``closed_port()``: a port nothing listens on (connection refused at once).
- ``Forwarder``: relays a local port to a real server; ``stop()`` cuts it, ``start()`` brings
  it back on the same port, so a dependency can go away and return.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


def closed_port() -> int:
    """Return a loopback port that refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _Listener:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._sock: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._stopped = threading.Event()

    def start(self) -> Any:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._stopped.clear()
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._conns.append(conn)
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        """Keep the connection open and silent."""

    def stop(self) -> None:
        self._stopped.set()
        for conn in [*self._conns, self._sock]:
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self._conns.clear()
        self._sock = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Blackhole(_Listener):
    """Accept TCP connections and never answer."""


class Forwarder(_Listener):
    """Relay connections on ``port`` to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        super().__init__(port)
        self.target = target

    def handle(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)
        conn.settimeout(None)
        self._conns.append(upstream)
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
