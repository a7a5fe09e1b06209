"""A TCP proxy of the tests' own between the stack and a database, which a test can cut.

``cut()`` closes every connection through it and refuses new ones (each is accepted and closed
at once, so clients fail fast); ``stall()`` leaves connections open but forwards nothing, as
a network that drops packets does; ``restore()`` forwards again. ``cut_when(pattern)`` cuts the
moment a client sends bytes holding ``pattern`` (e.g. ``b"COMMIT"``): before forwarding them,
or right after (then the server does the work but the client never hears the answer).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from dataclasses import dataclass, field

from tests.e2e.stack import free_port

CHUNK = 65536


@dataclass
class _Trigger:
    pattern: bytes
    after_forwarding: bool
    fired: threading.Event = field(default_factory=threading.Event)


class Proxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``, a thread per connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.port = target_port, free_port()
        self.mode = "forward"  # or "cut", "stall"
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.trigger: _Trigger | None = None
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.closed = threading.Event()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def cut(self) -> None:
        with self.lock:
            self.mode = "cut"
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            _close(*pair)

    def stall(self) -> None:
        with self.lock:
            self.mode = "stall"

    def restore(self) -> None:
        with self.lock:
            self.mode, self.trigger = "forward", None

    def cut_when(self, pattern: bytes, *, after_forwarding: bool = False) -> threading.Event:
        """Cut at the next client packet holding ``pattern``; the event is set when it fires."""
        with self.lock:
            self.trigger = _Trigger(pattern, after_forwarding)
            return self.trigger.fired

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.mode == "cut":
            client.close()
            return
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:  # the database is down: so is this connection
            client.close()
            return
        with self.lock:
            self.pairs.append((client, server))
        try:
            self._pump(client, server)
        except OSError:  # cut: the sockets were closed under the pump
            pass
        finally:
            with self.lock:
                if (client, server) in self.pairs:
                    self.pairs.remove((client, server))
            _close(client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        while not self.closed.is_set():
            if self.mode == "cut":
                return
            ready, _, _ = select.select([client, server], [], [], 0.1)
            if self.mode == "stall":
                continue
            for source in ready:
                data = source.recv(CHUNK)
                if not data:
                    return
                if source is client and not self._forward_from_client(data, server):
                    return
                if source is server:
                    client.sendall(data)

    def _forward_from_client(self, data: bytes, server: socket.socket) -> bool:
        trigger = self.trigger
        if trigger is None or trigger.pattern not in data:
            server.sendall(data)
            return True
        if trigger.after_forwarding:
            server.sendall(data)
        with self.lock:
            self.trigger = None
        trigger.fired.set()
        self.cut()
        return False


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
