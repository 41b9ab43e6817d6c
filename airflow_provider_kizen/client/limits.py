"""Bounds on what one response may cost: its size, compressed and decoded, and its total duration.

httpx bounds each read (``timeout``) but neither a whole response nor its size, and it decompresses as
much as a server sends. So the transports read the raw body through `BodyReader`, which counts the
bytes on the wire, inflates gzip and deflate itself in steps no larger than what is left of the cap,
and stops the moment either count passes it; a deadline covers the request from sending to the last
byte. Each limit has a connection extra of the same name (see ``client.config``).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import anyio
import httpx

# A full page (1,000 activities of about 6 KB) is about 6 MB; nothing Kizen sends comes near 32 MiB.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# Kizen answers in well under a second; a full page over a slow link still fits in two minutes.
DEFAULT_REQUEST_DEADLINE_SECONDS = 120.0
# 1,000 pages of Kizen's default 100 items is 100,000 activities: far more than a reconciliation lookup
# or a listing in a task ever needs, and few enough that a looping server is stopped in seconds.
DEFAULT_MAX_PAGES = 1000
# What the transports ask for: the encodings `BodyReader` can inflate within its bound.
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True)
class ResponseLimits:
    """The bounds of one connection.

    :param max_response_bytes: the most bytes a response body may have, on the wire and decoded.
    :param request_deadline_seconds: the most time one request may take, from sending to the last byte.
    :param max_pages: the most pages one listing follows.
    """

    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    request_deadline_seconds: float = DEFAULT_REQUEST_DEADLINE_SECONDS
    max_pages: int = DEFAULT_MAX_PAGES

    def __post_init__(self) -> None:
        if self.max_response_bytes < 1 or self.max_pages < 1 or self.request_deadline_seconds <= 0:
            raise ValueError("max_response_bytes, request_deadline_seconds and max_pages must be positive")


class ResponseLimitExceeded(httpx.TransportError):
    """A response broke one of the connection's limits; `limit` names the extra that sets it.

    It is a transport error, so that the request core decides about it as about any failed exchange:
    a POST's outcome is unknown, and a GET is not retried (the same response would break it again).
    """

    def __init__(self, message: str, *, limit: str, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)
        self.limit = limit


class Deadline:
    """The moment a request must be done by, started when it is sent."""

    def __init__(self, limits: ResponseLimits) -> None:
        self.seconds = limits.request_deadline_seconds
        self._ends = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    def check(self, request: httpx.Request) -> None:
        if self.remaining() <= 0:
            raise self.exceeded(request)

    def read_timeout(self, timeout: httpx.Timeout) -> dict[str, float | None]:
        """The client's timeouts, with no single read allowed to wait past the deadline."""
        read = timeout.read if timeout.read is not None else self.seconds
        return {**timeout.as_dict(), "read": max(min(read, self.remaining()), 0.001)}

    def exceeded(self, request: httpx.Request) -> ResponseLimitExceeded:
        return ResponseLimitExceeded(
            f"the response took longer than the {self.seconds:g} s request deadline "
            "(connection extra request_deadline_seconds)",
            limit="request_deadline_seconds",
            request=request,
        )


class _Inflater:
    """gzip or deflate, inflated at most `room + 1` bytes at a time, so a bomb never expands in memory."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def inflate(self, data: bytes, room: int) -> bytes:
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error:
            if self._gzip or self._started:
                raise
            # Some servers send "deflate" as a raw deflate stream, without zlib's header.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._zlib.decompress(data, room + 1)
        self._started = True
        return out

    def flush(self, room: int) -> bytes:
        return self._zlib.flush(room + 1)


class BodyReader:
    """Collects one response body from raw chunks, within `max_bytes` on the wire and decoded."""

    def __init__(self, response: httpx.Response, max_bytes: int) -> None:
        self.request = response.request
        self.max_bytes = max_bytes
        self.raw_bytes = 0
        self._chunks: list[bytes] = []
        self._size = 0
        # A response built in memory (a MockTransport's) arrives read and decoded already.
        encodings = (
            []
            if response.is_stream_consumed
            else [
                part.strip().lower()
                for part in response.headers.get("Content-Encoding", "").split(",")
                if part.strip().lower() not in ("", "identity")
            ]
        )
        if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
            raise httpx.DecodingError(
                f"unsupported Content-Encoding {', '.join(encodings)!r} (asked for {ACCEPT_ENCODING})",
                request=self.request,
            )
        self._inflater = _Inflater(encodings[0]) if encodings else None
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise self._too_large(f"declares {int(declared):,} bytes")

    def feed(self, raw: bytes) -> None:
        self.raw_bytes += len(raw)
        if self.raw_bytes > self.max_bytes:
            raise self._too_large("sent more bytes")
        self._add(self._decode(raw))

    def finish(self) -> bytes:
        if self._inflater is not None:
            self._add(self._inflater.flush(self.max_bytes - self._size))
        return b"".join(self._chunks)

    def _decode(self, raw: bytes) -> bytes:
        if self._inflater is None:
            return raw
        try:
            return self._inflater.inflate(raw, self.max_bytes - self._size)
        except zlib.error as exc:
            raise httpx.DecodingError(
                f"the compressed body is corrupt ({exc})", request=self.request
            ) from None

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.max_bytes:
            raise self._too_large("decompresses to more bytes")
        if data:
            self._chunks.append(data)

    def _too_large(self, what: str) -> ResponseLimitExceeded:
        return ResponseLimitExceeded(
            f"the response {what} than the {self.max_bytes:,}-byte limit "
            "(connection extra max_response_bytes)",
            limit="max_response_bytes",
            request=self.request,
        )


def send(client: httpx.Client, request: httpx.Request, limits: ResponseLimits) -> httpx.Response:
    """Send `request` and read its response within the limits (sync).

    The deadline is checked between chunks, and no single read may wait past it, so a response ends
    at most one read timeout after the deadline.
    """
    deadline = Deadline(limits)
    request.extensions = {**request.extensions, "timeout": deadline.read_timeout(client.timeout)}
    try:
        response = client.send(request, stream=True)
        try:
            reader = BodyReader(response, limits.max_response_bytes)
            for chunk in [response.content] if response.is_stream_consumed else response.iter_raw():
                reader.feed(chunk)
                deadline.check(request)
            return _decoded(response, reader.finish())
        finally:
            response.close()
            _unbind(response)
    except httpx.ReadTimeout:
        if deadline.remaining() <= 0:
            raise deadline.exceeded(request) from None
        raise


async def asend(client: httpx.AsyncClient, request: httpx.Request, limits: ResponseLimits) -> httpx.Response:
    """Send `request` and read its response within the limits (async); the deadline is exact.

    The deadline is an anyio cancel scope, the mechanism httpx's own per-read timeouts use; with
    asyncio.timeout in its place, the trigger's event-loop test saw steps of 80 ms and more.
    """
    deadline = Deadline(limits)
    # The connect and per-read timeouts, set here because the client may hand the request straight to
    # its transport (DirectAsyncClient); the deadline bounds the whole exchange on top of them.
    request.extensions = {**request.extensions, "timeout": client.timeout.as_dict()}
    try:
        with anyio.fail_after(deadline.seconds):
            response = await client.send(request, stream=True)
            try:
                reader = BodyReader(response, limits.max_response_bytes)
                if response.is_stream_consumed:
                    reader.feed(response.content)
                else:
                    async for chunk in response.aiter_raw():
                        reader.feed(chunk)
                return _decoded(response, reader.finish())
            finally:
                await response.aclose()
                _unbind(response)
    except TimeoutError:
        raise deadline.exceeded(request) from None


def _unbind(response: httpx.Response) -> None:
    """Break httpx's reference cycle between a client's response and its stream (encode/httpx#3733).

    Left alone, every request would wait for the cyclic garbage collector, and thousands of reads, as
    a trigger watching many activities makes, would stall its event loop in full collections.
    """
    response.stream = httpx.ByteStream(b"")


# Headers that describe the body as it came over the wire, not the decoded body.
_BODY_FRAMING = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


def _decoded(response: httpx.Response, body: bytes) -> httpx.Response:
    """A plain response over the decoded body: no encoding left to undo, and no tie back to the client."""
    headers = [(name, value) for name, value in response.headers.raw if name.lower() not in _BODY_FRAMING]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions={"reason_phrase": response.extensions.get("reason_phrase", b"")},
    )
