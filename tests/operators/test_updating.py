"""Bringing one activity in step with its record, over real HTTP against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity
from airflow_provider_kizen.operators.updating import UpdateRecord, bring_in_step

ACTIVITIES_PATH = "/api/activities/scheduled-activity"
ADA = {"custom_object": {"name": "client_client"}, "entity": {"name": "ada.lovelace@example.com"}}
RECORD = {
    "due_datetime": "2026-03-02T09:00:00+01:00",
    "note": "Call Ada about the renewal",
    "associated_entities": [ADA],
}


@pytest.fixture
async def hook(kizen_connection: str):  # type: ignore[no-untyped-def]
    hook = KizenHook()
    yield hook
    await hook.aclose()


@pytest.fixture
async def activity_id(hook: KizenHook) -> str:
    created = await hook.acreate_scheduled_activity({"activity_object_name": "follow_up_call", **RECORD})
    return created.id


def writes(control: Any) -> list[dict[str, Any]]:
    return [entry for entry in control.requests(ACTIVITIES_PATH) if entry["method"] in ("PATCH", "PUT")]


async def test_nothing_differs_nothing_is_written(hook, activity_id, kizen_emulator) -> None:  # type: ignore[no-untyped-def]
    changes = {**RECORD, "due_datetime": "2026-03-02T08:00:00Z"}

    outcome = await bring_in_step(
        hook, UpdateRecord(activity_id, changes, {"activity_object_name": "follow_up_call"}), Pace()
    )

    assert outcome.status == "unchanged"
    assert outcome.activity is not None
    assert outcome.activity.id == activity_id
    assert writes(kizen_emulator.control) == []


async def test_only_the_changed_field_is_patched(hook, activity_id, kizen_emulator) -> None:  # type: ignore[no-untyped-def]
    changes = {**RECORD, "due_datetime": "2026-03-03T09:00:00+01:00"}

    outcome = await bring_in_step(hook, UpdateRecord(activity_id, changes), Pace())

    assert (outcome.status, outcome.changed) == ("updated", ("due_datetime",))
    [patch] = writes(kizen_emulator.control)
    assert patch["body"] == {"due_datetime": "2026-03-03T09:00:00+01:00"}
    [stored] = kizen_emulator.control.activities()
    assert stored["due_datetime"] == "2026-03-03T08:00:00Z"
    assert stored["original_due_datetime"] == "2026-03-02T08:00:00Z"


async def test_plan_only_says_what_would_change_and_writes_nothing(hook, activity_id, kizen_emulator) -> None:  # type: ignore[no-untyped-def]
    changes = {**RECORD, "note": "Call Ada about the renewal quote"}

    outcome = await bring_in_step(hook, UpdateRecord(activity_id, changes), None, plan_only=True)

    assert (outcome.status, outcome.changed) == ("updated", ("note",))
    assert writes(kizen_emulator.control) == []


async def test_a_completed_activity_is_never_written(hook, activity_id, kizen_emulator) -> None:  # type: ignore[no-untyped-def]
    kizen_emulator.control.complete(activity_id)

    outcome = await bring_in_step(hook, UpdateRecord(activity_id, {"note": "too late"}), Pace())

    assert outcome.status == "completed"
    assert writes(kizen_emulator.control) == []


async def test_a_gone_activity_is_reported_not_recreated(
    hook, activity_id, kizen_emulator, kizen_api
) -> None:  # type: ignore[no-untyped-def]
    kizen_api.delete(f"{ACTIVITIES_PATH}/{activity_id}")

    outcome = await bring_in_step(hook, UpdateRecord(activity_id, {"note": "moved"}), Pace())

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert f"activity {activity_id} is gone" in outcome.error
    assert "not re-created" in outcome.error
    posts = [entry for entry in kizen_emulator.control.requests(ACTIVITIES_PATH) if entry["method"] == "POST"]
    assert len(posts) == 1  # the fixture's create only
    assert kizen_emulator.control.activities() == []


async def test_another_activity_type_fails_without_writing(hook, activity_id, kizen_emulator) -> None:  # type: ignore[no-untyped-def]
    record = UpdateRecord(activity_id, {"note": "moved"}, {"activity_object_name": "proposal_review"})

    outcome = await bring_in_step(hook, record, Pace())

    assert outcome.status == "failed"
    assert outcome.field_errors == {"activity_object_name": ["Differs from the activity's type."]}
    assert "can only be set on create" in (outcome.error or "")
    assert writes(kizen_emulator.control) == []


class CompletedAfterFirstRead(KizenHook):
    """A real hook, whose activity a person completes right after the operator first read it."""

    def __init__(self, control: Any) -> None:
        super().__init__()
        self.control = control
        self.reads = 0

    async def aget_scheduled_activity(
        self, activity_id: str, *, pace: Pace | None = None
    ) -> ScheduledActivity:
        activity = await super().aget_scheduled_activity(activity_id, pace=pace)
        self.reads += 1
        if self.reads == 1:
            self.control.complete(activity_id)
        return activity


@pytest.mark.parametrize(("completed_writes", "status"), [("refuse", "completed"), ("accept", "updated")])
async def test_completed_between_read_and_write(  # type: ignore[no-untyped-def]
    kizen_connection, activity_id, kizen_emulator, completed_writes, status
) -> None:
    kizen_emulator.control.set_update_rules(completed_writes=completed_writes)
    hook = CompletedAfterFirstRead(kizen_emulator.control)
    try:
        outcome = await bring_in_step(
            hook, UpdateRecord(activity_id, {"due_datetime": "2026-04-01T09:00:00Z"}), Pace()
        )
    finally:
        await hook.aclose()

    assert outcome.status == status
    [patch] = writes(kizen_emulator.control)
    assert patch["status"] == (400 if completed_writes == "refuse" else 200)


@pytest.mark.parametrize("kizen_emulator_profile", ["visibility-own-and-role"])
async def test_an_activity_the_api_user_may_not_see_is_reported_with_the_permissions_hint(
    hook, kizen_emulator
) -> None:  # type: ignore[no-untyped-def]
    others = await hook.acreate_scheduled_activity(
        {"activity_object_name": "follow_up_call", **RECORD, "employee_id": seed.EMPLOYEES[2]["id"]}
    )

    outcome = await bring_in_step(hook, UpdateRecord(others.id, {"note": "moved"}), Pace())

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "not re-created" in outcome.error
    assert "check the API user's activity permissions" in outcome.error
    assert writes(kizen_emulator.control) == []
    assert [stored["note"] for stored in kizen_emulator.control.activities()] == [RECORD["note"]]
