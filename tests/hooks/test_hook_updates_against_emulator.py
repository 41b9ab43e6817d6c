"""KizenHook's PATCH and DELETE over real HTTP against the emulator, under each guess it can make."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from airflow_provider_kizen.client.errors import KizenNotFoundError, KizenValidationError
from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.hooks.kizen import SCHEDULED_ACTIVITIES_PATH, KizenHook

FAST = RetryPolicy(max_attempts=4, backoff_initial_seconds=0.01, backoff_max_seconds=0.05)
ORIGINAL = {
    "activity_object_name": "follow_up_call",
    "due_datetime": "2026-12-01T10:00:00+00:00",
    "note": "Renewal call",
    "employee_id": seed.EMPLOYEES[1]["id"],
    "associated_entities": [
        {"custom_object": {"name": "client_client"}, "entity": {"name": "ada.lovelace@example.com"}}
    ],
}


@pytest.fixture
def hook(kizen_connection):  # type: ignore[no-untyped-def]
    hook = KizenHook(retry_policy=FAST)
    yield hook
    hook.close()


def writes(kizen_emulator, method: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r for r in kizen_emulator.control.requests(SCHEDULED_ACTIVITIES_PATH) if r["method"] == method]


def test_update_sends_exactly_the_fields_given_and_leaves_the_rest(hook, kizen_emulator):
    created = hook.create_scheduled_activity(ORIGINAL)

    moved = hook.update_scheduled_activity(created.id, {"due_datetime": "2026-12-03T15:30:00+01:00"})

    (patch,) = writes(kizen_emulator, "PATCH")
    assert patch["path"] == f"{SCHEDULED_ACTIVITIES_PATH}/{created.id}"
    assert patch["body"] == {"due_datetime": "2026-12-03T15:30:00+01:00"}
    assert moved.due_datetime == datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
    assert moved.original_due_datetime == created.due_datetime
    unchanged = {"note", "employee", "associated_entities", "activity_object", "notifications", "mentions"}
    assert {name: getattr(moved, name) for name in unchanged} == {
        name: getattr(created, name) for name in unchanged
    }


def test_update_refuses_the_activity_type_before_sending_anything(hook, kizen_emulator):
    created = hook.create_scheduled_activity(ORIGINAL)
    with pytest.raises(ValidationError, match="can only be set when the activity is created"):
        hook.update_scheduled_activity(created.id, {"activity_object_name": "proposal_review"})
    with pytest.raises(ValueError, match="no changes given"):
        hook.update_scheduled_activity(created.id, {})
    assert writes(kizen_emulator, "PATCH") == []


def test_update_of_a_missing_activity_is_not_found(hook, kizen_emulator):
    with pytest.raises(KizenNotFoundError) as raised:
        hook.update_scheduled_activity("8d4a2f0e-0000-4000-8000-000000000000", {"note": "x"})
    assert raised.value.status == 404
    assert len(writes(kizen_emulator, "PATCH")) == 1


def test_a_patch_whose_reply_was_lost_is_sent_again_with_the_same_result(hook, kizen_emulator):
    created = hook.create_scheduled_activity(ORIGINAL)
    kizen_emulator.control.set_faults(path=f"{SCHEDULED_ACTIVITIES_PATH}/", rate_commit_then_drop=0.5, seed=2)

    for n in range(4):
        hook.update_scheduled_activity(created.id, {"note": f"version {n}"})

    patches = writes(kizen_emulator, "PATCH")
    assert any(p["fault"] == "commit_then_drop" for p in patches)
    assert [p["body"] for p in patches if p["status"] == 200] == [{"note": f"version {n}"} for n in range(4)]
    assert kizen_emulator.control.activities()[0]["note"] == "version 3"


@pytest.mark.parametrize(
    ("completed_writes", "note_accepted", "due_accepted"),
    [("accept", True, True), ("note_only", True, False), ("refuse", False, False)],
)
def test_updates_of_a_completed_activity_under_each_guess(
    hook, kizen_emulator, completed_writes, note_accepted, due_accepted
):
    kizen_emulator.control.set_update_rules(completed_writes=completed_writes)
    created = hook.create_scheduled_activity(ORIGINAL)
    kizen_emulator.control.complete(created.id)

    for changes, accepted in (
        ({"note": "after the call"}, note_accepted),
        ({"due_datetime": "2027-01-01T09:00:00+00:00"}, due_accepted),
    ):
        if accepted:
            assert hook.update_scheduled_activity(created.id, changes).is_completed
        else:
            with pytest.raises(KizenValidationError, match="completed scheduled activity cannot be changed"):
                hook.update_scheduled_activity(created.id, changes)


def test_delete_then_delete_again(hook, kizen_emulator):
    created = hook.create_scheduled_activity(ORIGINAL)

    hook.delete_scheduled_activity(created.id)

    assert kizen_emulator.control.activities() == []
    with pytest.raises(KizenNotFoundError):
        hook.delete_scheduled_activity(created.id)
    with pytest.raises(KizenNotFoundError):
        hook.get_scheduled_activity(created.id)


def test_a_delete_whose_reply_was_lost_is_done_when_the_retry_finds_it_gone(hook, kizen_emulator):
    created = hook.create_scheduled_activity(ORIGINAL)
    # Seed 1 drops the first reply after deleting, and lets the second attempt through.
    kizen_emulator.control.set_faults(
        path=f"{SCHEDULED_ACTIVITIES_PATH}/{created.id}", rate_commit_then_drop=0.5, seed=1
    )

    hook.delete_scheduled_activity(created.id)

    deletes = writes(kizen_emulator, "DELETE")
    assert [(d["status"], d["fault"]) for d in deletes] == [(None, "commit_then_drop"), (404, None)]
    assert kizen_emulator.control.activities() == []


async def test_async_twins_share_the_pace(kizen_connection, kizen_emulator):
    hook = KizenHook(retry_policy=FAST)
    pace = Pace(max_requests_per_second=500)
    try:
        created = await hook.acreate_scheduled_activity(ORIGINAL)
        updated = await hook.aupdate_scheduled_activity(created.id, {"note": "Moved"}, pace=pace)
        await hook.adelete_scheduled_activity(created.id, pace=pace)
        with pytest.raises(KizenNotFoundError):
            await hook.adelete_scheduled_activity(created.id, pace=pace)
    finally:
        await hook.aclose()
    assert updated.note == "Moved"
    assert [r["method"] for r in kizen_emulator.control.requests(SCHEDULED_ACTIVITIES_PATH)] == [
        "POST",
        "PATCH",
        "DELETE",
        "DELETE",
    ]
