"""The async client's transport: httpx's API over aiohttp's connection pool and HTTP parser.

httpx's own async transport (httpcore on anyio) costs about four times aiohttp's CPU per request, and
in a batch or a triggerer that CPU is the limit. `httpx-aiohttp` moves the bytes through aiohttp; this
module keeps what the request core reads from the errors. That package maps every aiohttp connection
error to `httpx.ConnectTimeout`, a server that dropped the connection after the request was written
included, and the request core reads ConnectTimeout as "certainly not sent", so it would re-send a
POST that may have created its activity. Here, only errors raised while connecting become httpx's
connect errors; anything later becomes a read or protocol error, whose POST outcome is unknown.

aiohttp is imported only when an async client is built, never while a DAG file is parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NoReturn, cast

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

# Raised before any byte of the request was written: the request core may re-send even a POST.
_NOT_SENT: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),  # the proxy refused the CONNECT
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # DNS, TCP connect, TLS handshake
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # connecting, or waiting for the pool
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
)
# Raised once the request may have been written: whether Kizen acted on it is unknown.
_MAYBE_SENT: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a reply aiohttp could not parse
)


def httpx_error(error: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error with the same meaning for the request core as an aiohttp `error`.

    An error httpx-aiohttp already mapped is judged by the aiohttp error it came from. Anything not
    known to happen before sending is a read error: its POST is never re-sent unchecked.
    """
    if isinstance(error, httpx.TransportError):
        if not isinstance(error.__cause__, aiohttp.ClientError | TimeoutError):
            return error
        error = error.__cause__
    message = str(error) or type(error).__name__
    for source, target in (*_NOT_SENT, *_MAYBE_SENT):
        if isinstance(error, source):
            return target(message, request=request)
    return httpx.ReadError(message, request=request)


class _RemappedBody(httpx.AsyncByteStream):
    """A response body whose read errors mean what httpx's would: the reply was lost on the way."""

    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream, self._request = stream, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            _reraise(exc, self._request)

    async def aclose(self) -> None:
        await self._stream.aclose()


class KizenAiohttpTransport(AiohttpTransport):
    """httpx-aiohttp's transport, raising the httpx errors the request core's retry rules expect."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            _reraise(exc, request)
        response.stream = _RemappedBody(cast(httpx.AsyncByteStream, response.stream), request)
        return response


def _reraise(error: BaseException, request: httpx.Request) -> NoReturn:
    mapped = httpx_error(error, request)
    if mapped is error:
        raise error
    raise mapped from error
