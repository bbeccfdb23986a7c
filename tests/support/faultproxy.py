"""A TCP proxy that can cut a real server off, so tests can take the store or the broker away
from a hub without stopping the machine's PostgreSQL or RabbitMQ (other tests use them).

``FaultProxy.to(url)`` listens on 127.0.0.1 on an ephemeral port and forwards every connection
to the server ``url`` names; ``url_for(url)`` is the same URL through the proxy. ``cut()``
closes every live connection (both ends: the client sees its connection drop, the server sees
its client go) and answers new ones with a reset until ``restore()``: what a crashed or
restarted server looks like from the hub. One thread accepts; each connection has a thread per
direction, so a slow reader on one side never stalls the other.
"""

from __future__ import annotations

import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "amqp": 5672, "amqps": 5671}


def _reset(sock: socket.socket) -> None:
    """Close with RST, not FIN: the peer gets "connection reset", as from a dead server."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Link:
    """One proxied connection: the client's socket, the server's, and a pump per direction.

    Only the last pump to finish closes the sockets. Closing one while the other pump may be
    entering ``recv`` on it would free its descriptor for the next accepted connection, and
    that pump would read — and lose — bytes meant for another link: a PostgreSQL session then
    waits forever for the rest of a message. ``sever`` only shuts the sockets down, which wakes
    both pumps without freeing anything."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.ends = (client, server)
        self._running = 2
        self._lock = threading.Lock()

    def sever(self) -> None:
        for sock in self.ends:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def pump_done(self) -> None:
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            for sock in self.ends:
                _reset(sock)


class FaultProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # so the accept loop notices ``stop``
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._cut = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)

    @classmethod
    def to(cls, url: str) -> FaultProxy:
        """A started proxy to the server of a ``postgresql://`` or ``amqp://`` URL."""
        parts = urlsplit(url)
        return cls(
            parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[parts.scheme.split("+")[0]]
        ).start()

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (user, path, query kept)."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def cut(self) -> None:
        """Drop every live connection and reset new ones until ``restore``."""
        with self._lock:
            self._cut = True
            links, self._links = self._links, set()
        for link in links:
            link.sever()

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def stop(self) -> None:
        self._stopped.set()
        self.cut()
        self._thread.join(5)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if self._cut:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            link = _Link(client, server)
            with self._lock:
                if self._cut:  # cut while we connected
                    _reset(client)
                    _reset(server)
                    continue
                self._links.add(link)
            for src, dst in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(link, src, dst), daemon=True, name="faultproxy-pump"
                ).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        """Copy ``src`` to ``dst`` until either side ends; then end the whole link."""
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        link.sever()
        with self._lock:
            self._links.discard(link)
        link.pump_done()
