"""Fault injection over real HTTP: latency, 429, 5xx, commit-then-drop and the concurrency cap."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from airflow_provider_kizen.emulator.testing import EmulatorHandle

SCHEDULED = "/api/activities/scheduled-activity"
BODY = {"activity_object_name": "follow_up_call", "due_datetime": "2026-12-01T10:00:00Z"}


def test_commit_then_drop_stores_the_activity_and_closes_the_connection_without_a_response(
    api: httpx.Client, kizen_emulator: EmulatorHandle
) -> None:
    kizen_emulator.control.set_faults(path=SCHEDULED, rate_commit_then_drop=1.0)

    with pytest.raises(httpx.RemoteProtocolError):
        api.post(SCHEDULED, json=BODY)

    [stored] = kizen_emulator.control.activities()
    assert stored["activity_object"]["api_name"] == "follow_up_call"
    [logged] = kizen_emulator.control.requests(SCHEDULED)
    assert logged["fault"] == "commit_then_drop"
    assert logged["status"] is None
    assert logged["body"] == BODY
    kizen_emulator.control.clear_faults()
    assert api.post(SCHEDULED, json=BODY).status_code == 201


def test_throttling_answers_429_with_retry_after_and_stores_nothing(
    api: httpx.Client, kizen_emulator: EmulatorHandle
) -> None:
    kizen_emulator.control.set_faults(rate_429=1.0, retry_after_seconds=2)

    response = api.post(SCHEDULED, json=BODY)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-request-id"]
    assert response.json()["code"] == "throttled"
    assert kizen_emulator.control.activities() == []


@pytest.mark.parametrize(
    ("fault", "stored"),
    [
        ({"rate_503": 1.0}, False),
        ({"rate_500": 1.0}, False),
        ({"rate_500": 1.0, "commit_on_500": True}, True),
        ({"rate_502": 1.0}, True),
        ({"rate_502": 1.0, "commit_on_502": False}, False),
    ],
)
def test_server_errors_store_the_activity_only_when_configured_to(
    api: httpx.Client, kizen_emulator: EmulatorHandle, fault: dict[str, object], stored: bool
) -> None:
    kizen_emulator.control.set_faults(path=SCHEDULED, **fault)  # type: ignore[arg-type]
    status = next(int(key[-3:]) for key in fault if key.startswith("rate_"))

    response = api.post(SCHEDULED, json=BODY)

    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert len(kizen_emulator.control.activities()) == (1 if stored else 0)
    [logged] = kizen_emulator.control.requests()
    assert (logged["status"], logged["fault"]) == (status, str(status))


def test_latency_delays_the_answer(api: httpx.Client, kizen_emulator: EmulatorHandle) -> None:
    kizen_emulator.control.set_faults(latency_ms=200, jitter_ms=50)

    started = time.monotonic()
    response = api.get(SCHEDULED)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_concurrency_cap_answers_429_above_the_limit(kizen_emulator: EmulatorHandle) -> None:
    kizen_emulator.control.set_faults(
        path=SCHEDULED, latency_ms=500, max_in_flight=2, retry_after_seconds=0.5
    )

    async with httpx.AsyncClient(base_url=kizen_emulator.base_url, headers=kizen_emulator.headers) as client:
        first_two = [asyncio.create_task(client.post(SCHEDULED, json=BODY)) for _ in range(2)]
        await asyncio.sleep(0.2)  # both are now in flight, inside the injected latency
        over_cap = await asyncio.gather(*(client.post(SCHEDULED, json=BODY) for _ in range(3)))
        admitted = await asyncio.gather(*first_two)

    assert [r.status_code for r in admitted] == [201, 201]
    assert [r.status_code for r in over_cap] == [429, 429, 429]
    assert over_cap[0].headers["retry-after"] == "0.5"
    assert len(kizen_emulator.control.activities()) == 2
    assert sum(entry["fault"] == "429 max_in_flight" for entry in kizen_emulator.control.requests()) == 3


def _statuses(api: httpx.Client, count: int) -> list[int]:
    return [api.post(SCHEDULED, json=BODY).status_code for _ in range(count)]


def test_faults_are_deterministic_under_a_seed(api: httpx.Client, kizen_emulator: EmulatorHandle) -> None:
    kizen_emulator.control.set_faults(rate_503=0.3, rate_429=0.2, seed=7)
    first = _statuses(api, 30)
    kizen_emulator.control.set_faults(rate_503=0.3, rate_429=0.2, seed=7)
    second = _statuses(api, 30)
    kizen_emulator.control.set_faults(rate_503=0.3, rate_429=0.2, seed=8)
    other_seed = _statuses(api, 30)

    assert first == second
    assert first != other_seed
    assert {201, 429, 503} <= set(first)


def test_faults_apply_per_path_prefix_and_the_longest_prefix_wins(
    api: httpx.Client, kizen_emulator: EmulatorHandle
) -> None:
    kizen_emulator.control.set_faults(rate_503=1.0)
    kizen_emulator.control.set_faults(path="/api/activities/scheduled-activity", rate_429=1.0)

    assert api.get("/api/custom-objects").status_code == 503
    assert api.get(SCHEDULED).status_code == 429
    # The control plane is never faulted.
    assert kizen_emulator.control.activities() == []
    kizen_emulator.control.clear_faults()
    assert api.get("/api/custom-objects").status_code == 200


def test_reset_clears_faults(api: httpx.Client, kizen_emulator: EmulatorHandle) -> None:
    kizen_emulator.control.set_faults(rate_503=1.0)

    kizen_emulator.control.reset()

    assert api.get(SCHEDULED).status_code == 200


def test_impossible_fault_settings_are_refused(kizen_emulator: EmulatorHandle) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        kizen_emulator.control.set_faults(rate_500=0.7, rate_503=0.7)

    assert refused.value.response.status_code == 422
    assert "more than 1" in refused.value.response.text
