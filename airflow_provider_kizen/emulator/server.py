"""Serving an `Emulator` with uvicorn, on a socket bound before the server starts."""

from __future__ import annotations

import socket

import uvicorn

from airflow_provider_kizen.emulator.app import Emulator


def build_server(emulator: Emulator, *, host: str, port: int, access_log: bool = False) -> uvicorn.Server:
    config = uvicorn.Config(
        emulator.asgi,
        host=host,
        port=port,
        http=emulator.connections.protocol_class(),
        lifespan="off",
        log_level="warning",
        access_log=access_log,
        # Connections from a benchmark's client pool stay open between bursts.
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one), ready to hand to `Server.run`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock
