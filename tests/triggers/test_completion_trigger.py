"""ScheduledActivityCompletedTrigger against the emulator, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_kizen.emulator.testing import EmulatorControl
from airflow_provider_kizen.triggers.scheduled_activity import ScheduledActivityCompletedTrigger

ACTIVITY_PATH = "/api/activities/scheduled-activity/"
# asyncio's debug mode reports any callback that runs longer than this. The bound leaves room for a
# busy 2-core machine and is still well below SLOW_ANSWER_MS, the least a sync call to Kizen would
# hold the loop.
SLOW_CALLBACK_SECONDS = 0.05
SLOW_ANSWER_MS = 100


def make_trigger(activity_ids: list[str], *, wait_seconds: float = 20, **kwargs: Any):
    return ScheduledActivityCompletedTrigger(
        activity_ids=activity_ids, deadline=time.time() + wait_seconds, poll_interval=0.1, **kwargs
    )


async def first_event(trigger: ScheduledActivityCompletedTrigger) -> dict[str, Any]:
    """Run the trigger as the triggerer does, until its first event."""
    events = trigger.run()
    try:
        event = await anext(events)
    finally:
        await events.aclose()
    json.dumps(event.payload)  # every event must be plain JSON
    return event.payload


def reads_per_id(kizen_emulator, activity_ids: list[str]) -> Counter[str]:
    reads: Counter[str] = Counter()
    for request in kizen_emulator.control.requests(ACTIVITY_PATH):
        activity_id = request["path"].rsplit("/", 1)[-1]
        if request["method"] == "GET" and activity_id in activity_ids:
            reads[activity_id] += 1
    return reads


def test_serialize_gives_the_classpath_and_plain_kwargs() -> None:
    trigger = ScheduledActivityCompletedTrigger(
        activity_ids=["a", "b"], deadline=1_900_000_000.5, kizen_conn_id="kizen_eu", poll_interval=30
    )
    classpath, kwargs = trigger.serialize()

    assert import_string(classpath) is ScheduledActivityCompletedTrigger
    assert json.loads(json.dumps(kwargs)) == {
        "activity_ids": ["a", "b"],
        "deadline": 1_900_000_000.5,
        "kizen_conn_id": "kizen_eu",
        "poll_interval": 30,
        "max_concurrency": 10,
    }


async def test_succeeds_when_all_are_completed_and_reads_only_pending_ids(
    kizen_emulator, create_scheduled_activities
) -> None:
    early, late = create_scheduled_activities(2)
    kizen_emulator.control.complete(early)
    kizen_emulator.control.complete(late, after_seconds=0.8)

    event = await first_event(make_trigger([late, early]))

    assert event["status"] == "success"
    assert [activity["id"] for activity in event["activities"]] == [late, early]
    assert all(
        activity["completed_at"] and activity["logged_activity_id"] for activity in event["activities"]
    )
    reads = reads_per_id(kizen_emulator, [early, late])
    assert reads[early] == 1, "a completed activity is not read again"
    assert reads[late] > 1


async def test_times_out_at_the_deadline_naming_the_pending_ids(
    kizen_emulator, create_scheduled_activities
) -> None:
    done, pending = create_scheduled_activities(2)
    kizen_emulator.control.complete(done)
    started = time.monotonic()

    event = await first_event(make_trigger([done, pending], wait_seconds=0.6))

    assert 0.5 < time.monotonic() - started < 3
    assert event["status"] == "timeout"
    assert event["pending_ids"] == [pending]
    assert pending in event["message"]


async def test_a_deleted_activity_is_an_error_naming_it_and_kizens_message(
    kizen_api, create_scheduled_activities
) -> None:
    kept, deleted = create_scheduled_activities(2)
    assert kizen_api.delete(f"{ACTIVITY_PATH}{deleted}").status_code == 204
    kizen_message = kizen_api.get(f"{ACTIVITY_PATH}{deleted}").json()["detail"]

    event = await first_event(make_trigger([kept, deleted]))

    assert event["status"] == "error"
    assert event["activity_id"] == deleted
    assert event["http_status"] == 404
    assert event["request_id"]
    assert deleted in event["message"]
    assert kizen_message in event["message"]


async def test_a_refused_api_key_is_an_error_that_does_not_show_the_key(
    kizen_emulator, create_scheduled_activities, monkeypatch: pytest.MonkeyPatch
) -> None:
    (activity_id,) = create_scheduled_activities(1)
    wrong_key = "not-the-right-key-0123456789"
    monkeypatch.setenv(
        "AIRFLOW_CONN_KIZEN_DEFAULT", kizen_emulator.connection_uri.replace(kizen_emulator.api_key, wrong_key)
    )

    event = await first_event(make_trigger([activity_id]))

    assert event["status"] == "error"
    assert event["http_status"] in (401, 403)
    assert activity_id in event["message"]
    assert wrong_key not in json.dumps(event)


async def test_rate_limits_and_unavailability_do_not_end_the_wait(
    kizen_emulator, create_scheduled_activities, quick_retries
) -> None:
    activity_ids = create_scheduled_activities(5)
    for activity_id in activity_ids:
        kizen_emulator.control.complete(activity_id, after_seconds=1)
    # With seed 2, both a 429 and a 503 come within the first eight reads.
    kizen_emulator.control.set_faults(
        path=ACTIVITY_PATH, rate_429=0.2, retry_after_seconds=0.1, rate_503=0.2, seed=2
    )

    event = await first_event(make_trigger(activity_ids))

    assert event["status"] == "success"
    assert len(event["activities"]) == 5
    statuses = Counter(request["status"] for request in kizen_emulator.control.requests(ACTIVITY_PATH))
    assert statuses[429] > 0
    assert statuses[503] > 0


async def test_an_outage_longer_than_the_hooks_retries_only_delays_the_wait(
    kizen_emulator, create_scheduled_activities, quick_retries, monkeypatch: pytest.MonkeyPatch
) -> None:
    (activity_id,) = create_scheduled_activities(1)
    kizen_emulator.control.complete(activity_id)
    # Retry little inside the hook, so the outage reaches the trigger's own back-off quickly.
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", f"{quick_retries}&max_attempts=2")
    kizen_emulator.control.set_faults(path=ACTIVITY_PATH, rate_503=1.0)
    waiting = asyncio.create_task(first_event(make_trigger([activity_id])))
    await asyncio.sleep(1.0)
    assert not waiting.done()
    await asyncio.to_thread(kizen_emulator.control.clear_faults)

    event = await asyncio.wait_for(waiting, timeout=10)

    assert event["status"] == "success"
    unavailable = [r for r in kizen_emulator.control.requests(ACTIVITY_PATH) if r["status"] == 503]
    assert len(unavailable) >= 4, "the trigger kept asking through the outage"


async def test_a_trigger_recreated_from_serialize_resumes_the_wait(
    kizen_emulator, create_scheduled_activities
) -> None:
    first, second = create_scheduled_activities(2)
    trigger = make_trigger([first, second], wait_seconds=30)
    running = asyncio.create_task(first_event(trigger))
    await asyncio.sleep(0.5)  # a few cycles with both pending
    await asyncio.to_thread(kizen_emulator.control.complete, first)
    await asyncio.sleep(0.3)
    # The triggerer stops: the task is cancelled, and a new triggerer rebuilds the trigger from the
    # kwargs Airflow stored, which went through JSON.
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    classpath, kwargs = trigger.serialize()
    resumed = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    assert resumed.deadline == trigger.deadline
    await asyncio.to_thread(kizen_emulator.control.complete, second, after_seconds=0.5)

    event = await first_event(resumed)

    assert event["status"] == "success"
    assert [activity["id"] for activity in event["activities"]] == [first, second]


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[tuple[str, str]]:
    """An emulator in a process of its own, so it does not compete with the loop under test for the
    GIL; yields its base URL and connection URI."""
    script = Path(sys.executable).with_name("kizen-emulator")
    process = subprocess.Popen([str(script), "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        base_url = process.stdout.readline().split()[-1]
        connection_uri = process.stdout.readline().strip().split("=", 1)[1].strip("'")
        yield base_url, connection_uri
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_watching_many_activities_never_blocks_the_event_loop(
    emulator_process,
    create_scheduled_activities,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base_url, connection_uri = emulator_process
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", connection_uri)
    control = EmulatorControl(base_url)
    activity_ids = create_scheduled_activities(200)
    for activity_id in activity_ids[:100]:
        control.complete(activity_id)
    for activity_id in activity_ids[100:]:
        control.complete(activity_id, after_seconds=2.5)
    # Every answer takes SLOW_ANSWER_MS, so any sync call to Kizen would hold the loop that long.
    control.set_faults(path=ACTIVITY_PATH, latency_ms=SLOW_ANSWER_MS)
    control.close()
    # The first trigger of a process pays one-off costs on the loop: Airflow loads its secrets
    # backends, and the first async request imports anyio's asyncio backend. A triggerer has paid
    # them long before; what is measured here is what every trigger costs.
    warm_up = await first_event(make_trigger(activity_ids[:1]))
    assert warm_up["status"] == "success"
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_SECONDS
    caplog.set_level(logging.WARNING, logger="asyncio")
    await asyncio.sleep(0)  # the loop only times callbacks that start after debug mode is on
    try:
        event = await first_event(make_trigger(activity_ids))
    finally:
        loop.set_debug(False)

    assert event["status"] == "success"
    assert len(event["activities"]) == 200
    stalls = [record.getMessage() for record in caplog.records if "Executing" in record.getMessage()]
    assert stalls == []
