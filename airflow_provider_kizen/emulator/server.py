"""Serving an `Emulator` with uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress

import uvicorn

from airflow_provider_kizen.emulator.app import Emulator


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def bound_port(server: uvicorn.Server) -> int:
    """The port the started server listens on (useful when it was asked for port 0)."""
    return int(server.servers[0].sockets[0].getsockname()[1])
