"""ScheduledActivityCompletedTrigger against the emulator, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_kizen.emulator.store import ActivityStore
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.triggers import scheduled_activity
from airflow_provider_kizen.triggers.completion_sweep import (
    DIRECT_READS_PER_CYCLE,
    EXTRA_PAGES,
)
from airflow_provider_kizen.triggers.scheduled_activity import ScheduledActivityCompletedTrigger

LIST_PATH = "/api/activities/scheduled-activity"
ACTIVITY_PATH = f"{LIST_PATH}/"


def make_trigger(
    activity_ids: list[str], *, wait_seconds: float = 20, poll_interval: float = 0.1, **kwargs: Any
) -> ScheduledActivityCompletedTrigger:
    return ScheduledActivityCompletedTrigger(
        activity_ids=activity_ids, deadline=time.time() + wait_seconds, poll_interval=poll_interval, **kwargs
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


def reads(kizen_emulator) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every GET of scheduled activities the emulator answered: list pages and reads by id."""
    return [r for r in kizen_emulator.control.requests(LIST_PATH) if r["method"] == "GET"]


def reads_by_id(kizen_emulator) -> Counter[str]:  # type: ignore[no-untyped-def]
    return Counter(r["path"].rsplit("/", 1)[-1] for r in reads(kizen_emulator) if r["path"] != LIST_PATH)


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
        "include_activities": False,
    }


async def test_succeeds_with_small_records_when_all_are_completed(
    kizen_emulator, create_scheduled_activities
) -> None:
    early, late = create_scheduled_activities(2)
    kizen_emulator.control.complete(early)
    kizen_emulator.control.complete(late, after_seconds=0.8)

    event = await first_event(make_trigger([late, early]))

    assert event["status"] == "success"
    assert "activities" not in event
    assert [sorted(record) for record in event["completed"]] == [
        ["completed_at", "id", "logged_activity_id"]
    ] * 2
    by_id = {activity["id"]: activity for activity in kizen_emulator.control.activities()}
    assert event["completed"] == [
        {
            "id": activity_id,
            "completed_at": by_id[activity_id]["completed_at"],
            "logged_activity_id": by_id[activity_id]["logged_activity_id"],
        }
        for activity_id in (late, early)
    ]
    assert reads_by_id(kizen_emulator) == Counter(), "list pages accounted for both; nothing read by id"


async def test_include_activities_adds_the_whole_activities(
    kizen_emulator, create_scheduled_activities
) -> None:
    activity_ids = create_scheduled_activities(2)
    for activity_id in activity_ids:
        kizen_emulator.control.complete(activity_id)

    event = await first_event(make_trigger(activity_ids, include_activities=True))

    assert event["status"] == "success"
    assert event["activities"] == kizen_emulator.control.activities()
    assert [record["id"] for record in event["completed"]] == activity_ids


async def test_times_out_at_the_deadline_naming_the_pending_and_the_completed(
    kizen_emulator, create_scheduled_activities
) -> None:
    done, pending = create_scheduled_activities(2)
    kizen_emulator.control.complete(done)

    event = await first_event(make_trigger([done, pending], wait_seconds=0.6))

    assert event["status"] == "timeout"
    assert event["pending_ids"] == [pending]
    assert [record["id"] for record in event["completed"]] == [done]
    assert pending in event["message"]


@pytest.mark.parametrize("list_reading", ["instant", "calendar_day"], indirect=True)
async def test_two_thousand_activities_in_two_waves_cost_pages_not_reads(
    kizen_emulator, schedule_many, list_reading: str
) -> None:
    """The whole wait for 2,000 activities, completed in two waves, takes about a hundred requests."""
    activity_ids = await schedule_many(2000)
    for activity_id in activity_ids[:1000]:
        await asyncio.to_thread(kizen_emulator.control.complete, activity_id)
    for activity_id in activity_ids[1000:]:
        await asyncio.to_thread(kizen_emulator.control.complete, activity_id, after_seconds=3)

    event = await first_event(make_trigger(activity_ids, wait_seconds=120, poll_interval=0.5))

    assert event["status"] == "success"
    assert [record["id"] for record in event["completed"]] == activity_ids
    assert all(record["completed_at"] and record["logged_activity_id"] for record in event["completed"])
    assert len(reads(kizen_emulator)) <= 100
    assert len(json.dumps(event)) <= 200 * len(activity_ids)


async def test_every_reading_of_the_list_filters_reports_every_completion(
    kizen_emulator, schedule_many, any_list_reading: str
) -> None:
    """However Kizen reads the filters, every completion is reported; a reading the sweep did not
    guess costs pages, and a cycle never reads more than a few ids directly."""
    activity_ids = await schedule_many(300)
    for activity_id in activity_ids[:150]:
        await asyncio.to_thread(kizen_emulator.control.complete, activity_id)
    for activity_id in activity_ids[150:]:
        await asyncio.to_thread(kizen_emulator.control.complete, activity_id, after_seconds=1.5)

    event = await first_event(make_trigger(activity_ids, wait_seconds=60, poll_interval=0.3))

    assert event["status"] == "success"
    assert [record["id"] for record in event["completed"]] == activity_ids
    assert reads_by_id(kizen_emulator) == Counter(), "every reading lets the pages account for all"


async def test_ids_no_page_shows_are_read_directly_a_few_per_cycle(
    kizen_emulator, schedule_many, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Activities a list never shows (another user's, say) are still watched, by reading them."""
    activity_ids = await schedule_many(60)
    hidden = set(activity_ids[::2])
    original_query = ActivityStore.query
    monkeypatch.setattr(
        ActivityStore,
        "query",
        lambda *args, **kwargs: [row for row in original_query(*args, **kwargs) if row["id"] not in hidden],
    )
    for activity_id in activity_ids:
        await asyncio.to_thread(kizen_emulator.control.complete, activity_id, after_seconds=0.5)
    requests_per_cycle = count_cycles(monkeypatch)

    event = await first_event(make_trigger(activity_ids, wait_seconds=60, poll_interval=0.1))

    assert event["status"] == "success"
    assert [record["id"] for record in event["completed"]] == activity_ids
    assert set(reads_by_id(kizen_emulator)) == hidden
    pages_at_most = 3 * (1 + EXTRA_PAGES)  # every listing of a cycle, each within its page budget
    assert max(requests_per_cycle) <= pages_at_most + DIRECT_READS_PER_CYCLE


async def test_the_event_and_the_log_hold_nothing_personal(
    kizen_emulator, schedule_many, personal_details: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    activity_ids = await schedule_many(3)
    for activity_id in activity_ids:
        await asyncio.to_thread(kizen_emulator.control.complete, activity_id, after_seconds=0.3)
    caplog.set_level(logging.DEBUG)

    event = await first_event(make_trigger(activity_ids))

    assert event["status"] == "success"
    shown = json.dumps(event) + caplog.text
    assert activity_ids[0] in shown
    note, email = personal_details
    assert note in json.dumps(kizen_emulator.control.activities()), "the activities do hold them"
    assert note not in shown
    assert email not in shown


async def test_the_trigger_never_makes_a_blocking_call_to_kizen(
    kizen_emulator, create_scheduled_activities, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the async transport and the async connection lookup may run on the triggerer's loop."""

    def blocking(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a blocking call on the event loop")

    activity_ids = create_scheduled_activities(3)
    for activity_id in activity_ids:
        kizen_emulator.control.complete(activity_id, after_seconds=0.3)
    monkeypatch.setattr(httpx.Client, "send", blocking)
    monkeypatch.setattr(KizenHook, "get_connection", blocking)
    monkeypatch.setattr(KizenHook, "get_config", blocking)

    event = await first_event(make_trigger(activity_ids, include_activities=True))

    assert event["status"] == "success"


def count_cycles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on in this test, count the requests the trigger's hook sends in each cycle."""
    requests_per_cycle: list[int] = []
    original_sweep = scheduled_activity.asweep_once
    original_request = KizenHook._arequest

    async def sweep(*args: Any, **kwargs: Any) -> None:
        requests_per_cycle.append(0)
        await original_sweep(*args, **kwargs)

    async def request(hook: KizenHook, *args: Any, **kwargs: Any) -> Any:
        requests_per_cycle[-1] += 1
        return await original_request(hook, *args, **kwargs)

    monkeypatch.setattr(scheduled_activity, "asweep_once", sweep)
    monkeypatch.setattr(KizenHook, "_arequest", request)
    return requests_per_cycle


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
    assert event["activity_id"] is None, "the first request lists activities, and that is what was refused"
    assert "cannot be listed" in event["message"]
    assert wrong_key not in json.dumps(event)


async def test_rate_limits_and_unavailability_do_not_end_the_wait(
    kizen_emulator, create_scheduled_activities, quick_retries
) -> None:
    activity_ids = create_scheduled_activities(5)
    # With seed 2, both a 429 and a 503 come within the first eight requests.
    kizen_emulator.control.set_faults(
        path=LIST_PATH, rate_429=0.2, retry_after_seconds=0.1, rate_503=0.2, seed=2
    )

    async def complete_after_eight_requests() -> None:
        while len(await asyncio.to_thread(reads, kizen_emulator)) < 8:  # noqa: ASYNC110 (polls the emulator)
            await asyncio.sleep(0.05)
        for activity_id in activity_ids:
            await asyncio.to_thread(kizen_emulator.control.complete, activity_id)

    completing = asyncio.create_task(complete_after_eight_requests())
    event = await first_event(make_trigger(activity_ids))
    await completing

    assert event["status"] == "success"
    assert [record["id"] for record in event["completed"]] == activity_ids
    statuses = Counter(request["status"] for request in reads(kizen_emulator))
    assert statuses[429] > 0
    assert statuses[503] > 0


async def test_an_outage_longer_than_the_hooks_retries_only_delays_the_wait(
    kizen_emulator, create_scheduled_activities, quick_retries, monkeypatch: pytest.MonkeyPatch
) -> None:
    (activity_id,) = create_scheduled_activities(1)
    kizen_emulator.control.complete(activity_id)
    # Retry little inside the hook, so the outage reaches the trigger's own back-off quickly.
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", f"{quick_retries}&max_attempts=2")
    kizen_emulator.control.set_faults(path=LIST_PATH, rate_503=1.0)
    waiting = asyncio.create_task(first_event(make_trigger([activity_id])))
    await asyncio.sleep(1.0)
    assert not waiting.done()
    await asyncio.to_thread(kizen_emulator.control.clear_faults)

    event = await asyncio.wait_for(waiting, timeout=10)

    assert event["status"] == "success"
    unavailable = [r for r in reads(kizen_emulator) if r["status"] == 503]
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
    assert [record["id"] for record in event["completed"]] == [first, second]
