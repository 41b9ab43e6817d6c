"""A `kizen_default` connection with a distinctive API key, and hooks whose HTTP goes to a MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.hooks.kizen import KizenHook

API_KEY = "kz-hook-test-SECRET-9b7e41"
BASE_URL = "https://kizen.example"
FAST_RETRIES = RetryPolicy(max_attempts=3, backoff_initial_seconds=0.001, backoff_max_seconds=0.001)

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def api_key() -> str:
    """The distinctive API key of the test connection: it must never show up in a log or an error."""
    return API_KEY


@pytest.fixture
def kizen_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_KIZEN_DEFAULT",
        json.dumps(
            {
                "conn_type": "kizen",
                "host": BASE_URL,
                "login": "user-1",
                "password": API_KEY,
                "extra": {"business_id": "biz-1"},
            }
        ),
    )


@pytest.fixture
def mock_hook(kizen_default, mocker) -> Callable[..., KizenHook]:  # type: ignore[no-untyped-def]
    """Build a KizenHook whose sync and async clients answer through `handler`."""

    def build(handler: Handler, retry_policy: RetryPolicy = FAST_RETRIES) -> KizenHook:
        hook = KizenHook(retry_policy=retry_policy)
        transport = httpx.MockTransport(handler)
        mocker.patch.object(hook, "get_conn", return_value=httpx.Client(transport=transport))
        mocker.patch.object(hook, "aget_conn", return_value=httpx.AsyncClient(transport=transport))
        return hook

    return build
