"""The async client (httpx over aiohttp) against the emulator's faults over loopback: the same retry
and unknown-outcome rules as the sync client, whose twins are in test_hook_against_emulator.py."""

from __future__ import annotations

import asyncio
import socket

import pytest

from airflow_provider_kizen.client.errors import (
    KizenServerError,
    KizenTransportError,
    KizenUnknownOutcomeError,
)
from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.emulator.testing import connection_uri
from airflow_provider_kizen.hooks.kizen import SCHEDULED_ACTIVITIES_PATH, KizenHook

FAST = RetryPolicy(max_attempts=4, backoff_initial_seconds=0.01, backoff_max_seconds=0.05)
PAYLOAD = {"activity_object_name": "follow_up_call", "due_datetime": "2027-03-01T09:00:00+00:00"}


def posts(kizen_emulator) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r for r in kizen_emulator.control.requests(SCHEDULED_ACTIVITIES_PATH) if r["method"] == "POST"]


async def create(hook: KizenHook) -> None:
    try:
        await hook.acreate_scheduled_activity(PAYLOAD)
    finally:
        await hook.aclose()


async def test_the_async_client_runs_on_aiohttp(kizen_connection, kizen_emulator):
    from airflow_provider_kizen.client.aiohttp_transport import KizenAiohttpTransport

    hook = KizenHook()
    try:
        client = await hook.aget_conn()
        assert isinstance(client._transport, KizenAiohttpTransport)
        await hook.acreate_scheduled_activity(PAYLOAD)
    finally:
        await hook.aclose()
    assert client.is_closed
    (logged,) = posts(kizen_emulator)
    assert logged["status"] == 201


async def test_a_dropped_reply_after_commit_is_unknown_and_not_resent(kizen_connection, kizen_emulator):
    kizen_emulator.control.set_faults(path=SCHEDULED_ACTIVITIES_PATH, rate_commit_then_drop=1.0)
    with pytest.raises(KizenUnknownOutcomeError, match="may or may not have been created"):
        await create(KizenHook(retry_policy=FAST))
    assert len(posts(kizen_emulator)) == 1
    assert len(kizen_emulator.control.activities()) == 1


async def test_a_reply_slower_than_the_timeout_is_unknown_and_not_resent(kizen_connection, kizen_emulator):
    kizen_emulator.control.set_faults(path=SCHEDULED_ACTIVITIES_PATH, latency_ms=2000)
    with pytest.raises(KizenUnknownOutcomeError, match="timed out waiting for"):
        await create(KizenHook(retry_policy=FAST, timeout=0.3))
    await asyncio.sleep(2.5)  # the emulator logs a request once it has answered it
    assert len(posts(kizen_emulator)) == 1


async def test_503s_on_create_are_retried_up_to_the_cap(kizen_connection, kizen_emulator):
    kizen_emulator.control.set_faults(path=SCHEDULED_ACTIVITIES_PATH, rate_503=1.0)
    with pytest.raises(KizenServerError, match="gave up after 4 attempts"):
        await create(KizenHook(retry_policy=FAST))
    assert len(posts(kizen_emulator)) == 4


async def test_a_refused_connection_is_retried_even_for_a_post(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", connection_uri("127.0.0.1", port))
    with pytest.raises(KizenTransportError, match=r"could not connect to 127\.0\.0\.1.*gave up after 4"):
        await create(KizenHook(retry_policy=FAST))
