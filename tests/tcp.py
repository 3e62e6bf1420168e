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
import struct
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
        # Held while a connection is taken in (listed, then handled) and while a subclass
        # changes how connections are handled, so none slips between the two unlisted.
        self._lock = threading.Lock()

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
            with self._lock:
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


class FaultProxy(Forwarder):
    """A ``Forwarder`` that a test can make refuse or hang, then repair, on the same port.

    - ``refuse()``: the listening socket closes and open connections are reset: clients get
      "connection refused" at once, as from a stopped server.
    - ``hang()``: new connections are accepted and never answered, and bytes on open ones are
      no longer relayed: a server that stopped answering (frozen process or VM).
    - ``repair()``: back to relaying to ``target`` (connections held while hung are closed,
      as a server restarted after a freeze would).

    The real server behind it is never touched, so a shared PostgreSQL or Redis stays up for
    everyone else.
    """

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        super().__init__(target, port)
        self.hung = threading.Event()
        self._held: list[socket.socket] = []

    def handle(self, conn: socket.socket) -> None:
        if self.hung.is_set():
            self._held.append(conn)
            return
        super().handle(conn)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:  # type: ignore[override]
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self.hung.is_set():
                    return  # swallow it: the "server" never answers
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def refuse(self) -> None:
        """Close the port: new connections are refused, open ones reset."""
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.stop()

    def hang(self) -> None:
        """Accept connections and relay nothing any more."""
        with self._lock:
            self.hung.set()

    def repair(self) -> None:
        """Relay again (reopening the port after ``refuse()``)."""
        with self._lock:
            if self.hung.is_set():
                # Every connection of before and during the hang is closed: one left open
                # (a request swallowed, its pump gone) would time out a client much later.
                self.hung.clear()
                for conn in [*self._held, *self._conns]:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                self._held.clear()
                self._conns.clear()
        if self._sock is None:
            self.start()
