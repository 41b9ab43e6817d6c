"""KizenHook over real HTTP (loopback) against the emulator, and inside a real dag.test() run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_provider_kizen.client.errors import (
    KizenServerError,
    KizenUnknownOutcomeError,
    KizenValidationError,
)
from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.hooks.kizen import SCHEDULED_ACTIVITIES_PATH, KizenHook

FAST = RetryPolicy(max_attempts=4, backoff_initial_seconds=0.01, backoff_max_seconds=0.05)


def payload(note: str = "Renewal call") -> dict:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return {"activity_object_name": "follow_up_call", "due_datetime": due.isoformat(), "note": note}


def posts(kizen_emulator) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r for r in kizen_emulator.control.requests(SCHEDULED_ACTIVITIES_PATH) if r["method"] == "POST"]


@pytest.fixture
def hook(kizen_connection):  # type: ignore[no-untyped-def]
    hook = KizenHook(retry_policy=FAST)
    yield hook
    hook.close()


def test_create_get_and_list_across_pages(hook, kizen_emulator):
    created = [hook.create_scheduled_activity(payload(f"call {n}")) for n in range(5)]
    assert hook.get_scheduled_activity(created[0].id).note == "call 0"
    listed = list(hook.list_scheduled_activities(page_size=2, ordering="created"))
    assert [activity.id for activity in listed] == [activity.id for activity in created]
    list_requests = [
        r for r in kizen_emulator.control.requests(SCHEDULED_ACTIVITIES_PATH) if r["method"] == "GET"
    ]
    assert [r["query"].get("page") for r in list_requests if r["path"] == SCHEDULED_ACTIVITIES_PATH] == [
        None,
        "2",
        "3",
    ]


async def test_async_twins_across_pages(kizen_connection, kizen_emulator):
    hook = KizenHook(retry_policy=FAST)
    try:
        created = [await hook.acreate_scheduled_activity(payload(f"call {n}")) for n in range(3)]
        fetched = await hook.aget_scheduled_activity(created[1].id)
        listed = [a.id async for a in hook.alist_scheduled_activities(page_size=2, ordering="created")]
    finally:
        await hook.aclose()
    assert fetched.id == created[1].id
    assert listed == [activity.id for activity in created]


def test_429s_are_retried_until_kizen_accepts(hook, kizen_emulator):
    kizen_emulator.control.set_faults(
        path=SCHEDULED_ACTIVITIES_PATH, rate_429=0.5, retry_after_seconds=0.05, seed=3
    )
    for n in range(4):
        hook.create_scheduled_activity(payload(f"call {n}"))
    statuses = [r["status"] for r in posts(kizen_emulator)]
    assert statuses.count(201) == 4
    assert 429 in statuses
    assert len(kizen_emulator.control.activities()) == 4


async def test_async_429s_slow_down_the_shared_pace(kizen_connection, kizen_emulator):
    kizen_emulator.control.set_faults(
        path=SCHEDULED_ACTIVITIES_PATH, rate_429=0.5, retry_after_seconds=0.05, seed=3
    )
    pace = Pace(max_requests_per_second=200)
    hook = KizenHook(retry_policy=FAST)
    try:
        for n in range(4):
            await hook.acreate_scheduled_activity(payload(f"call {n}"), pace=pace)
    finally:
        await hook.aclose()
    assert len(kizen_emulator.control.activities()) == 4
    assert pace.requests_per_second is not None
    assert pace.requests_per_second < 200


def test_a_dropped_reply_after_commit_is_an_unknown_outcome_and_not_resent(hook, kizen_emulator):
    kizen_emulator.control.set_faults(path=SCHEDULED_ACTIVITIES_PATH, rate_commit_then_drop=1.0)
    with pytest.raises(KizenUnknownOutcomeError, match="may or may not have been created"):
        hook.create_scheduled_activity(payload())
    assert len(posts(kizen_emulator)) == 1
    assert len(kizen_emulator.control.activities()) == 1  # it was created: the caller must reconcile


def test_a_502_on_create_is_an_unknown_outcome(hook, kizen_emulator):
    kizen_emulator.control.set_faults(path=SCHEDULED_ACTIVITIES_PATH, rate_502=1.0)
    with pytest.raises(KizenUnknownOutcomeError) as raised:
        hook.create_scheduled_activity(payload())
    assert raised.value.status == 502
    assert len(posts(kizen_emulator)) == 1


def test_503s_on_create_are_retried_up_to_the_cap(hook, kizen_emulator):
    kizen_emulator.control.set_faults(path=SCHEDULED_ACTIVITIES_PATH, rate_503=1.0)
    with pytest.raises(KizenServerError, match="gave up after 4 attempts"):
        hook.create_scheduled_activity(payload())
    assert len(posts(kizen_emulator)) == 4
    assert kizen_emulator.control.activities() == []


def test_a_rejected_payload_names_field_and_request_id(hook, kizen_emulator):
    with pytest.raises(KizenValidationError) as raised:
        hook.create_scheduled_activity({**payload(), "activity_object_name": "no_such_activity_type"})
    error = raised.value
    assert error.status == 400
    assert "activity_object_name" in error.field_errors
    (logged,) = posts(kizen_emulator)
    assert error.request_id == logged["request_id"]
    assert str(error).startswith(
        f"POST {SCHEDULED_ACTIVITIES_PATH} → 400 (request id {logged['request_id']}): "
    )


def test_the_key_stays_out_of_logs_and_errors(hook, kizen_emulator, capfd, caplog):
    kizen_emulator.control.set_faults(path=SCHEDULED_ACTIVITIES_PATH, rate_429=1.0, retry_after_seconds=0.01)
    with pytest.raises(Exception) as raised:  # noqa: PT011 - any error; the point is its text
        hook.create_scheduled_activity(payload())
    printed = "".join(capfd.readouterr())
    assert "retrying" in printed + caplog.text
    for text in (printed, caplog.text, str(raised.value), repr(raised.value), repr(hook.get_config())):
        assert kizen_emulator.api_key not in text


def test_hook_in_a_real_dag_run(dag_bag, kizen_emulator, kizen_connection, capfd):
    dag = dag_bag.get_dag("kizen_hook_smoke")
    assert dag is not None, dag_bag.import_errors
    dag_run = dag.test()
    assert dag_run.state == DagRunState.SUCCESS
    (ti,) = dag_run.get_task_instances()
    assert ti.state == TaskInstanceState.SUCCESS
    results = ti.xcom_pull(task_ids="hook_calls")
    stored = {activity["id"]: activity["note"] for activity in kizen_emulator.control.activities()}
    for kind, note in (("sync", "sync smoke"), ("async", "async smoke")):
        result = results[kind]
        assert stored[result["id"]] == note
        assert result["fetched"] == result["id"]
        assert result["listed"] == [result["id"]]
    printed = "".join(capfd.readouterr())
    assert "created scheduled activity" in printed
    assert kizen_emulator.api_key not in printed + str(results)
