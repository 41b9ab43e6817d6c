"""The hook against small hostile servers on loopback: every case ends with a clear error, within bounds.

Bounds are measured by the test process: requests the server saw, bytes it managed to send, and the
peak of Python memory (tracemalloc) while the hook read. Nothing here times the machine.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hostile import Exchange, HostileServer, hostile_server

from airflow_provider_kizen.client.config import KizenConnectionConfig
from airflow_provider_kizen.client.core import build_request
from airflow_provider_kizen.client.errors import (
    KizenError,
    KizenHTTPError,
    KizenLimitError,
    KizenTransportError,
    KizenUnknownOutcomeError,
)
from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.client.transport import async_client, client_options
from airflow_provider_kizen.hooks.kizen import SCHEDULED_ACTIVITIES_PATH, KizenHook
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite, ValidatedWrite
from airflow_provider_kizen.operators.batch import (
    BatchItem,
    BatchRunner,
    BatchSettings,
    Outcome,
    full_activity,
)
from airflow_provider_kizen.operators.ledger import ProgressLedger
from airflow_provider_kizen.triggers.scheduled_activity import ScheduledActivityCompletedTrigger

API_KEY = "kz-hostile-SECRET-4f21a9c07e"
LIMIT = 1024 * 1024  # max_response_bytes for these tests: 1 MiB
ACTIVITY = {"id": "a1", "due_datetime": "2026-03-02T09:00:00Z"}
PAYLOAD = {"activity_object_name": "follow_up_call", "due_datetime": "2026-03-02T09:00:00Z"}
NO_RETRIES = RetryPolicy(max_attempts=1)


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., KizenHook]:
    """A hook on a `kizen_default` connection to `server`, with the given extras."""

    def build(server: HostileServer, **extra: Any) -> KizenHook:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KIZEN_DEFAULT",
            json.dumps(
                {
                    "conn_type": "kizen",
                    "host": server.base_url,
                    "login": "user-1",
                    "password": API_KEY,
                    "extra": {"business_id": "biz-1", "max_response_bytes": LIMIT, **extra},
                }
            ),
        )
        return KizenHook(retry_policy=NO_RETRIES)

    return build


@pytest.fixture
def looping_next() -> Iterator[HostileServer]:
    def behaviour(exchange: Exchange) -> None:
        exchange.json(
            "200 OK",
            {
                "count": 1,
                "next": f"{exchange.server.base_url}{exchange.request.target}",
                "results": [ACTIVITY],
            },
        )

    with hostile_server(behaviour) as server:
        yield server


def test_a_next_link_to_itself_stops_after_one_page(connect, looping_next):
    hook = connect(looping_next)
    with pytest.raises(KizenLimitError, match="leads back to a page already read") as caught:
        list(hook.list_scheduled_activities(search="x"))
    assert caught.value.limit == "next"
    assert len(looping_next.requests) == 1


async def test_a_next_link_to_itself_stops_the_async_listing_too(connect, looping_next):
    hook = connect(looping_next)
    seen = []

    async def read_all() -> None:
        async for activity in hook.alist_scheduled_activities(search="x"):
            seen.append(activity.id)

    with pytest.raises(KizenLimitError, match="leads back"):
        await read_all()
    assert seen == ["a1"]
    assert len(looping_next.requests) == 1
    await hook.aclose()


def test_a_server_that_always_has_another_page_is_stopped_at_max_pages(connect):
    def behaviour(exchange: Exchange) -> None:
        page = len(exchange.server.requests)
        next_url = f"{exchange.server.base_url}{SCHEDULED_ACTIVITIES_PATH}?page={page + 1}"
        exchange.json("200 OK", {"next": next_url, "results": []})

    with hostile_server(behaviour) as server:
        hook = connect(server, max_pages=5)
        with pytest.raises(KizenLimitError, match=r"more than 5 pages \(connection extra max_pages\)"):
            list(hook.list_scheduled_activities())
    assert len(server.requests) == 5


def _endless(exchange: Exchange, chunk: bytes, headers: dict[str, str]) -> None:
    """Headers, then `chunk` again and again, until the client hangs up (or 64 MiB are sent)."""
    exchange.head("200 OK", {"Content-Type": "application/json", **headers})
    while exchange.server.body_bytes_sent < 64 * LIMIT and exchange.send(chunk):
        pass


@pytest.mark.parametrize("declared", [False, True], ids=["streamed", "content-length"])
def test_a_huge_body_is_cut_off_at_the_size_limit(connect, declared):
    headers = {"Content-Length": str(64 * LIMIT)} if declared else {}
    with hostile_server(lambda exchange: _endless(exchange, b" " * 65536, headers)) as server:
        hook = connect(server)
        tracemalloc.start()
        try:
            with pytest.raises(
                KizenLimitError, match=r"1,048,576-byte limit \(connection extra max_response_bytes\)"
            ):
                hook.get_scheduled_activity("a1")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        hook.close()
    assert peak < 4 * LIMIT
    # The client stopped reading: the server got at most a socket buffer's worth past the limit out.
    assert server.body_bytes_sent < 16 * LIMIT


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_cut_off_at_the_size_limit_without_inflating(connect, encoding):
    """About 100 KB on the wire that would inflate to 100 MiB."""
    spaces = b" " * (100 * 1024 * 1024)
    bomb = gzip.compress(spaces, 9) if encoding == "gzip" else zlib.compress(spaces, 9)
    del spaces

    def behaviour(exchange: Exchange) -> None:
        exchange.head("200 OK", {"Content-Encoding": encoding, "Content-Length": str(len(bomb))})
        exchange.send(bomb)

    with hostile_server(behaviour) as server:
        hook = connect(server)
        tracemalloc.start()
        try:
            with pytest.raises(KizenLimitError, match="decompresses to more bytes than the 1,048,576-byte"):
                await hook.aget_scheduled_activity("a1")
            with pytest.raises(KizenLimitError, match="decompresses to more bytes"):
                hook.get_scheduled_activity("a1")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        await hook.aclose()
    assert len(bomb) < LIMIT  # what came over the wire was small; what it inflates to is not
    assert peak < 4 * LIMIT


def test_a_compressed_body_within_the_limit_is_read(connect):
    body = gzip.compress(json.dumps(ACTIVITY).encode())

    def behaviour(exchange: Exchange) -> None:
        exchange.head("200 OK", {"Content-Encoding": "gzip", "Content-Length": str(len(body))})
        exchange.send(body)

    with hostile_server(behaviour) as server:
        assert connect(server).get_scheduled_activity("a1").id == "a1"
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


DRIP_INTERVAL = 0.1


def _drip(exchange: Exchange) -> None:
    """A body that never ends, one byte every DRIP_INTERVAL: no single read ever times out."""
    exchange.head("200 OK", {"Content-Type": "application/json", "Content-Length": "1000000"})
    while not exchange.server.stop.is_set() and exchange.send(b" "):
        time.sleep(DRIP_INTERVAL)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_dripping_server_is_stopped_at_the_request_deadline(connect, method):
    """A 1 s deadline: the client stops after about 1 / DRIP_INTERVAL bytes, whatever the read timeout."""
    with hostile_server(_drip) as server:
        hook = connect(server, request_deadline_seconds=1, timeout=30)
        if method == "GET":
            with pytest.raises(
                KizenLimitError, match=r"1 s request deadline \(connection extra request_deadline"
            ):
                hook.get_scheduled_activity("a1")
            with pytest.raises(KizenLimitError, match="request deadline"):
                await hook.aget_scheduled_activity("a1")
        else:
            # A POST cut off may still have created the activity: its outcome is unknown, never re-sent.
            with pytest.raises(KizenUnknownOutcomeError, match="request deadline"):
                hook.create_scheduled_activity(PAYLOAD)
            with pytest.raises(KizenUnknownOutcomeError, match="request deadline"):
                await hook.acreate_scheduled_activity(PAYLOAD)
        await hook.aclose()
        hook.close()
        dripped = server.body_bytes_sent
    assert len(server.requests) == 2
    # Two requests of a 1 s deadline each: at most about 2 / DRIP_INTERVAL bytes (with slack for load).
    assert dripped <= 4 / DRIP_INTERVAL


def _echo_headers(status: str) -> Callable[[Exchange], None]:
    """An error whose every part repeats the request's headers: body, field errors and reason phrase."""

    def behaviour(exchange: Exchange) -> None:
        echoed = "; ".join(f"{name}: {value}" for name, value in exchange.request.headers.items())
        key = exchange.request.headers["x-api-key"]
        body = {
            "non_field_errors": [f"bad request with headers {echoed}"],
            "note": [f"the key {key} is not welcome here"],
            key: ["a field named after the key"],
        }
        exchange.json(f"{status} Echo {key}", body, {"X-Request-ID": "req-echo"})

    return behaviour


@pytest.mark.parametrize("status", ["400", "403", "500", "502"])
async def test_an_error_echoing_the_headers_never_carries_the_key(connect, caplog, status):
    # Everything the provider logs, and everything else at what Airflow shows (it keeps httpx at WARN).
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="airflow_provider_kizen")
    errors: list[KizenError] = []
    with hostile_server(_echo_headers(status)) as server:
        hook = connect(server)
        for call in (
            lambda: hook.create_scheduled_activity(PAYLOAD),
            lambda: hook.get_scheduled_activity("a1"),
            lambda: list(hook.list_scheduled_activities()),
        ):
            with pytest.raises(KizenError) as caught:
                call()
            errors.append(caught.value)
        with pytest.raises(KizenError) as caught_async:
            await hook.acreate_scheduled_activity(PAYLOAD)
        errors.append(caught_async.value)
        await hook.aclose()
    for error in errors:
        text = f"{error} {error!r} {error.field_errors} {error.__cause__} {error.__context__}"
        assert API_KEY not in text
        assert "[redacted]" in str(error) or isinstance(error, KizenUnknownOutcomeError)
    assert API_KEY not in caplog.text
    if status == "400":
        assert errors[0].field_errors == {
            "non_field_errors": [errors[0].field_errors["non_field_errors"][0]],
            "note": ["the key [redacted] is not welcome here"],
            "[redacted]": ["a field named after the key"],
        }


def test_a_body_that_is_not_json_is_quoted_redacted(connect):
    def behaviour(exchange: Exchange) -> None:
        page = f"<html>proxy error for {exchange.request.headers['x-api-key']}</html>".encode()
        exchange.head("200 OK", {"Content-Type": "text/html", "Content-Length": str(len(page))})
        exchange.send(page)

    with (
        hostile_server(behaviour) as server,
        pytest.raises(KizenHTTPError, match=r"proxy error for \[redacted\]") as caught,
    ):
        connect(server).get_scheduled_activity("a1")
    assert API_KEY not in str(caught.value)


def test_a_malformed_header_line_echoing_the_key_is_redacted(connect):
    def behaviour(exchange: Exchange) -> None:
        key = exchange.request.headers["x-api-key"]
        exchange.sock.sendall(f"HTTP/1.1 200 OK\r\nbroken header {key}\r\n\r\n".encode())

    with hostile_server(behaviour) as server, pytest.raises(KizenError) as caught:
        connect(server).get_scheduled_activity("a1")
    assert API_KEY not in f"{caught.value} {caught.value.__cause__}"


def test_a_redirect_error_quotes_only_scheme_host_and_path(connect):
    def behaviour(exchange: Exchange) -> None:
        key = exchange.request.headers["x-api-key"]
        location = f"https://user:{key}@login.example:8443/sso/start?key={key}&next=/x#frag"
        exchange.head("302 Found", {"Location": location, "Content-Length": "0"})

    with hostile_server(behaviour) as server, pytest.raises(KizenHTTPError) as caught:
        connect(server).get_scheduled_activity("a1")
    message = str(caught.value)
    assert "redirected to https://login.example/sso/start;" in message
    assert API_KEY not in message
    assert "key=" not in message


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"due_datetime": "2026-03-02T09:00:00Z"}', "id: Field required"),
        (b"[1, 2]", "Input should be a valid dictionary"),
        (b"created", "expected JSON from Kizen"),
    ],
)
async def test_a_malformed_success_fails_with_a_clear_error(connect, body, problem):
    def behaviour(exchange: Exchange) -> None:
        exchange.head("201 Created", {"Content-Type": "application/json", "Content-Length": str(len(body))})
        exchange.send(body)

    with hostile_server(behaviour) as server:
        hook = connect(server)
        with pytest.raises(KizenHTTPError, match=problem) as caught:
            hook.create_scheduled_activity(PAYLOAD)
        with pytest.raises(KizenHTTPError, match=problem):
            await hook.acreate_scheduled_activity(PAYLOAD)
        await hook.aclose()
    assert caught.value.status == 201
    assert "POST /api/activities/scheduled-activity → 201" in str(caught.value)


@pytest.fixture
def recording_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    """A proxy on loopback that every proxy variable points at; it records what reaches it."""
    with hostile_server(lambda exchange: exchange.json("502 Bad Gateway", {"detail": "proxy"})) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.base_url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        yield proxy


async def test_a_loopback_connection_bypasses_the_proxy_variables(connect, recording_proxy):
    with hostile_server(lambda exchange: exchange.json("200 OK", ACTIVITY)) as server:
        hook = connect(server)
        assert hook.get_scheduled_activity("a1").id == "a1"
        assert (await hook.aget_scheduled_activity("a1")).id == "a1"
        await hook.aclose()
    assert len(server.requests) == 2
    assert recording_proxy.requests == []


@pytest.mark.parametrize("client_class", [httpx.Client, httpx.AsyncClient])
def test_plain_http_never_goes_to_a_proxy_but_https_may(recording_proxy, client_class):
    """Through a proxy, plain http would hand it the API key in clear; https only tunnels through it."""
    insecure = KizenConnectionConfig(
        base_url="http://kizen.example", business_id="b", user_id="u", api_key="k"
    )
    client = client_class(**client_options(insecure))
    default = client._transport
    assert client._transport_for_url(httpx.URL("http://kizen.example/api")) is default
    assert client._transport_for_url(httpx.URL("http://127.0.0.1:1/api")) is default
    secure = dataclasses.replace(insecure, base_url="https://kizen.example")
    client = client_class(**client_options(secure))
    assert client._transport_for_url(httpx.URL("https://kizen.example/api")) is not client._transport


async def test_https_behind_a_proxy_goes_through_httpx_to_the_proxy(recording_proxy):
    """httpx ignores the proxy variables for a transport given to it, so here the client is httpx's own."""
    config = KizenConnectionConfig(
        base_url="https://kizen.example", business_id="b", user_id="u", api_key="k"
    )
    client = async_client(config)
    try:
        with pytest.raises(httpx.ProxyError):
            await client.send(build_request(config, "GET", "/api/activities"), stream=True)
    finally:
        await client.aclose()
    assert [received.method for received in recording_proxy.requests] == ["CONNECT"]


async def test_without_a_proxy_the_async_client_sends_straight_through_its_transport(monkeypatch):
    """No cookie jar, auth flow or redirect handling: the response comes from the transport as it is."""
    for name in ("HTTPS_PROXY", "ALL_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    cookie = {"Set-Cookie": "session=abc; Path=/"}
    with hostile_server(lambda exchange: exchange.json("200 OK", ACTIVITY, cookie)) as server:
        config = KizenConnectionConfig(base_url=server.base_url, business_id="b", user_id="u", api_key="k")
        client = async_client(config)
        request = build_request(config, "GET", "/api/activities/a1")
        request.extensions = {"timeout": client.timeout.as_dict()}
        try:
            response = await client.send(request, stream=True)
            await response.aread()
            await response.aclose()
        finally:
            await client.aclose()
    assert response.request is request
    assert response.json() == ACTIVITY
    assert not client.cookies


def _stall(exchange: Exchange) -> None:
    exchange.server.stop.wait(10)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_async_client_keeps_the_connections_read_timeout(connect, method):
    """A server that never answers is given up after the connection's `timeout`, not the 120 s deadline."""
    with hostile_server(_stall) as server:
        hook = connect(server, timeout=0.5)
        started = time.monotonic()
        if method == "GET":
            with pytest.raises(KizenTransportError, match="timed out"):
                await hook.aget_scheduled_activity("a1")
        else:
            with pytest.raises(KizenUnknownOutcomeError, match="timed out"):
                await hook.acreate_scheduled_activity(PAYLOAD)
        waited = time.monotonic() - started
        await hook.aclose()
    assert waited < 10


async def test_a_trigger_event_from_a_header_echoing_server_never_carries_the_key(connect, caplog):
    """The event reaches the worker that resumes the task, which never reads the connection to mask it."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")
    with hostile_server(_echo_headers("403")) as server:
        connect(server)
        trigger = ScheduledActivityCompletedTrigger(
            activity_ids=["a1"], deadline=time.time() + 30, poll_interval=0.1
        )
        events = trigger.run()
        try:
            event = await anext(events)
        finally:
            await events.aclose()
    assert event.payload["status"] == "error"
    assert "[redacted]" in event.payload["message"]
    assert API_KEY not in json.dumps(event.payload)
    assert API_KEY not in caplog.text


class _DictStore(dict[str, Any]):
    """A task_state_store over a dict."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


async def test_a_malformed_success_fails_its_record_and_the_batch_goes_on(connect):
    def behaviour(exchange: Exchange) -> None:
        note = json.loads(exchange.request.body)["note"]
        body = {"due_datetime": "2026-03-02T09:00:00Z"} if note == "broken" else {**ACTIVITY, "id": note}
        exchange.json("201 Created", body)

    with hostile_server(behaviour) as server:
        hook = connect(server)
        runner = BatchRunner(
            hook,
            ProgressLedger(_DictStore()),
            BatchSettings(max_concurrency=2, unknown_outcome_retries=0, progress_interval=60),
            log=logging.getLogger("test"),
            describe=full_activity,
        )
        notes = ["first", "broken", "third"]
        items = [
            BatchItem(
                index,
                f"k{index}",
                ValidatedWrite.of(ScheduledActivityWrite.model_validate({**PAYLOAD, "note": note})),
            )
            for index, note in enumerate(notes)
        ]
        outcomes: dict[int, Outcome] = {}
        await runner.run(items, len(items), lambda item, outcome: outcomes.__setitem__(item.index, outcome))
        await hook.aclose()
    assert [outcomes[index].status for index in range(3)] == ["created", "failed", "created"]
    assert [outcomes[index].activity_id for index in (0, 2)] == ["first", "third"]
    assert "the body is not a scheduled activity (id: Field required)" in str(outcomes[1].error)
