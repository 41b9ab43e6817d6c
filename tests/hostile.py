"""Small hostile HTTP servers on loopback, for the tests of the provider's limits and redaction.

A `HostileServer` reads each request, records it, and hands the socket to a behaviour that writes
whatever raw bytes it likes: a `next` link back to itself, an endless or compressed body, a drip, an
error that echoes the request headers. It counts requests and the body bytes it managed to send, so
tests can bound what a client consumed without timing anything.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Exchange:
    """What a behaviour gets: the request, the socket to answer on, and the server's counters."""

    request: Received
    sock: socket.socket
    server: HostileServer

    def send(self, data: bytes) -> bool:
        """Send bytes; False once the client has gone away."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.server.body_bytes_sent += len(data)
        return True

    def head(self, status: str, headers: dict[str, str]) -> bool:
        headers = {"Connection": "close", **headers}
        lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
        data = "\r\n".join(lines).encode("latin-1")
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def json(self, status: str, body: Any, headers: dict[str, str] | None = None) -> bool:
        content = json.dumps(body).encode()
        return self.head(
            status,
            {"Content-Type": "application/json", "Content-Length": str(len(content)), **(headers or {})},
        ) and self.send(content)


Behaviour = Callable[[Exchange], None]


@dataclass
class HostileServer:
    behaviour: Behaviour
    requests: list[Received] = field(default_factory=list)
    body_bytes_sent: int = 0
    port: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _read_request(rfile: Any) -> Received | None:
    request_line = rfile.readline(65536).decode("latin-1").strip()
    if not request_line:
        return None
    method, target, _ = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        line = rfile.readline(65536).decode("latin-1")
        if line in ("\r\n", "\n", ""):
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = rfile.read(int(headers.get("content-length", "0") or 0))
    return Received(method, target, headers, body)


@contextmanager
def hostile_server(behaviour: Behaviour) -> Iterator[HostileServer]:
    """Serve `behaviour` on 127.0.0.1 on a free port, one connection per request, until the block ends."""
    state = HostileServer(behaviour)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            received = _read_request(self.rfile)
            if received is None:
                return
            state.requests.append(received)
            state.behaviour(Exchange(received, self.connection, state))

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Handler) as server:
        state.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield state
        finally:
            state.stop.set()
            server.shutdown()
            thread.join()
