"""Which client connection carries which request, so a fault can cut one without answering."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class ConnectionRegistry:
    """Maps each open connection's client address to its transport.

    ASGI gives an application no way to close the socket without a response: if the app raises or
    returns early, uvicorn answers 500. The emulator's own protocol class therefore registers every
    transport, and `drop` aborts the one behind a request, so the client sees the connection close
    with no response at all (httpx raises `RemoteProtocolError`).
    """

    def __init__(self) -> None:
        self._transports: dict[tuple[str, int], asyncio.BaseTransport] = {}

    def protocol_class(self) -> type[asyncio.Protocol]:
        """A uvicorn HTTP protocol (httptools when installed, else h11) that registers its transport."""
        transports = self._transports

        class RegisteringHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                if self.client is not None:
                    transports[tuple(self.client)] = transport

            def connection_lost(self, exc: Exception | None) -> None:
                if self.client is not None:
                    transports.pop(tuple(self.client), None)
                super().connection_lost(exc)

        return RegisteringHTTPProtocol

    async def drop(self, scope: MutableMapping[str, Any]) -> None:
        """Close the request's connection at once, without a response."""
        client = scope.get("client")
        transport = self._transports.get(tuple(client)) if client else None
        if transport is None:
            raise RuntimeError(
                "the connection cannot be dropped: the emulator is not running on its own server"
            )
        transport.abort()  # type: ignore[attr-defined]
        # Let uvicorn see the disconnect before the app returns, so it does not try to answer.
        await asyncio.sleep(0)
