"""The aiohttp transport's errors, against real loopback servers: the request core must read them as it
reads httpx's own, so a POST is re-sent only when it certainly never reached the server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from airflow_provider_kizen.client.aiohttp_transport import KizenAiohttpTransport, httpx_error
from airflow_provider_kizen.client.config import KizenConnectionConfig
from airflow_provider_kizen.client.core import (
    Retry,
    RetryCall,
    build_request,
    describe_transport_error,
    is_tls_failure,
)
from airflow_provider_kizen.client.errors import KizenTransportError, KizenUnknownOutcomeError
from airflow_provider_kizen.client.policy import RetryPolicy

PATH = "/api/activities/scheduled-activity"
BODY = {"activity_object_name": "follow_up_call", "due_datetime": "2027-03-01T09:00:00+00:00"}
POLICY = RetryPolicy(max_attempts=3, backoff_initial_seconds=0.01, backoff_max_seconds=0.01)

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class LoopbackServer:
    """A raw TCP server on a free loopback port that reads each request, then does `behaviour`."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests_read = 0
        self.request_arrived = asyncio.Event()
        self.hold = asyncio.Event()  # what a stalled server waits for; set when the test ends

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests_read += 1
                self.request_arrived.set()
                await self.behaviour(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def loopback_server(behaviour: Behaviour) -> AsyncIterator[tuple[LoopbackServer, str]]:
    server = LoopbackServer(behaviour)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.hold.set()
        listener.close()
        await listener.wait_closed()


def refused_url() -> str:
    """A loopback port nothing listens on: the port was free a moment ago and its socket is closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def client(
    timeouts: httpx.Timeout, limits: httpx.Limits | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    transport = KizenAiohttpTransport(limits=limits or httpx.Limits())
    async with httpx.AsyncClient(transport=transport, timeout=timeouts) as http:
        yield http


async def send_once(
    base_url: str, method: str, read_seconds: float = 2.0
) -> tuple[httpx.TransportError, RetryCall]:
    """Send one request as the request core builds it; the transport error it met, and the call."""
    config = KizenConnectionConfig(
        base_url=base_url, business_id="biz-1", user_id="user-1", api_key="kz-transport-test-key"
    )
    call = RetryCall(POLICY, build_request(config, method, PATH, json=BODY if method == "POST" else None))
    async with client(httpx.Timeout(read_seconds)) as http:
        with pytest.raises(httpx.TransportError) as raised:
            await http.send(call.request)
    return raised.value, call


async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def test_a_refused_connection_is_a_connect_error_and_a_post_may_be_sent_again():
    error, call = await send_once(refused_url(), "POST")

    assert isinstance(error, httpx.ConnectError)
    assert isinstance(call.after_transport_error(error), Retry)
    assert describe_transport_error(error).startswith("could not connect to 127.0.0.1")


async def test_a_server_that_drops_after_reading_the_post_leaves_its_outcome_unknown():
    async with loopback_server(drop) as (server, base_url):
        error, call = await send_once(base_url, "POST")

    assert server.requests_read == 1
    assert isinstance(error, httpx.RemoteProtocolError)
    with pytest.raises(KizenUnknownOutcomeError, match="may or may not have been created"):
        call.after_transport_error(error)


async def test_a_get_is_retried_after_the_server_drops_it():
    async with loopback_server(drop) as (_, base_url):
        error, call = await send_once(base_url, "GET")

    assert isinstance(call.after_transport_error(error), Retry)


async def test_a_read_timeout_leaves_a_post_unknown():
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.hold.wait()

    async with loopback_server(stall) as (server, base_url):
        error, call = await send_once(base_url, "POST", read_seconds=0.3)

    assert server.requests_read == 1
    assert isinstance(error, httpx.ReadTimeout)
    with pytest.raises(KizenUnknownOutcomeError, match=r"timed out waiting for 127\.0\.0\.1"):
        call.after_transport_error(error)


async def test_a_reply_cut_off_in_its_body_leaves_a_post_unknown():
    async def cut_off(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"id"'
        )
        await writer.drain()
        writer.close()

    async with loopback_server(cut_off) as (_, base_url):
        error, call = await send_once(base_url, "POST")

    assert isinstance(error, httpx.RemoteProtocolError)
    with pytest.raises(KizenUnknownOutcomeError):
        call.after_transport_error(error)


async def test_a_reply_that_is_not_http_leaves_a_post_unknown():
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        writer.close()

    async with loopback_server(garbage) as (_, base_url):
        error, call = await send_once(base_url, "POST")

    assert isinstance(error, httpx.RemoteProtocolError)
    with pytest.raises(KizenUnknownOutcomeError):
        call.after_transport_error(error)


async def test_waiting_too_long_for_a_pooled_connection_is_not_sent():
    """With one connection held by a stalled request, the next one never leaves the pool."""

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.hold.wait()

    async with loopback_server(stall) as (server, base_url):
        timeout = httpx.Timeout(5.0, pool=0.3)
        async with client(timeout, httpx.Limits(max_connections=1)) as http:
            first = asyncio.create_task(http.post(base_url + PATH, json=BODY))
            await server.request_arrived.wait()
            with pytest.raises(httpx.TransportError) as raised:
                await http.post(base_url + PATH, json=BODY)
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)

    assert server.requests_read == 1
    assert isinstance(raised.value, httpx.ConnectTimeout)
    request = build_request(
        KizenConnectionConfig(base_url=base_url, business_id="b", user_id="u", api_key="k"), "POST", PATH
    )
    assert isinstance(RetryCall(POLICY, request).after_transport_error(raised.value), Retry)


async def test_a_failed_tls_handshake_is_a_connect_error_that_is_not_retried():
    """https to a server that answers in plain text: the handshake fails before anything is sent."""

    async def speak_plain_text(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(speak_plain_text, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        error, call = await send_once(f"https://127.0.0.1:{port}", "POST")
    finally:
        listener.close()
        await listener.wait_closed()

    assert isinstance(error, httpx.ConnectError)
    assert is_tls_failure(error)
    with pytest.raises(KizenTransportError, match=r"TLS handshake with 127\.0\.0\.1 failed"):
        call.after_transport_error(error)
    assert call.attempts == 1


def test_an_error_not_from_aiohttp_is_kept_as_it_is():
    request = httpx.Request("POST", "http://127.0.0.1" + PATH)
    own = httpx.UnsupportedProtocol("no such scheme", request=request)
    assert httpx_error(own, request) is own


def test_an_aiohttp_error_of_no_known_kind_is_a_read_error():
    import aiohttp

    request = httpx.Request("POST", "http://127.0.0.1" + PATH)
    mapped = httpx_error(aiohttp.ClientError("something else"), request)
    assert type(mapped) is httpx.ReadError
    with pytest.raises(KizenUnknownOutcomeError):
        RetryCall(POLICY, request).after_transport_error(mapped)
