"""Completing scheduled activities: log-activity, the logged-activity read, and the control plane."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from airflow_provider_kizen.emulator.testing import EmulatorHandle

SCHEDULED = "/api/activities/scheduled-activity"
CreateActivity = Callable[..., dict[str, Any]]


def test_log_activity_completes_the_scheduled_activity(
    api: httpx.Client, create_activity: CreateActivity
) -> None:
    scheduled = create_activity()

    response = api.post(
        "/api/activities/follow_up_call/log-activity",
        json={"scheduled_activity_id": scheduled["id"], "related_objects": [], "notes": "Spoke with Ada"},
    )

    assert response.status_code == 201, response.text
    logged = response.json()
    assert logged["scheduled_activity_id"] == scheduled["id"]
    assert logged["notes"] == "Spoke with Ada"
    completed = api.get(f"{SCHEDULED}/{scheduled['id']}").json()
    assert completed["logged_activity_id"] == logged["id"]
    assert completed["completed_at"] == logged["created"]
    assert api.get(f"/api/activities/logged/{logged['id']}").json() == logged


def test_log_activity_validates(api: httpx.Client, create_activity: CreateActivity) -> None:
    scheduled = create_activity()
    log_path = "/api/activities/follow_up_call/log-activity"

    assert api.post(log_path, json={"scheduled_activity_id": scheduled["id"]}).json() == {
        "related_objects": ["This field is required."]
    }
    unknown = api.post(log_path, json={"scheduled_activity_id": "nope", "related_objects": []})
    assert unknown.json()["scheduled_activity_id"][0]["code"] == "does_not_exist"
    other_type = api.post(
        "/api/activities/proposal_review/log-activity",
        json={"scheduled_activity_id": scheduled["id"], "related_objects": []},
    )
    assert other_type.status_code == 400
    assert (
        api.post("/api/activities/no_such_type/log-activity", json={"related_objects": []}).status_code == 404
    )
    assert (
        api.post(log_path, json={"scheduled_activity_id": scheduled["id"], "related_objects": []}).status_code
        == 201
    )
    again = api.post(log_path, json={"scheduled_activity_id": scheduled["id"], "related_objects": []})
    assert again.json() == {"scheduled_activity_id": ["The scheduled activity is already completed."]}


def test_a_log_without_a_scheduled_activity_is_a_plain_logged_activity(api: httpx.Client) -> None:
    response = api.post("/api/activities/onboarding_check_in/log-activity", json={"related_objects": []})

    assert response.status_code == 201
    assert response.json()["scheduled_activity_id"] is None
    assert api.get("/api/activities/logged/no-such-id").status_code == 404


def test_control_complete_now_and_after_a_delay(
    api: httpx.Client, kizen_emulator: EmulatorHandle, create_activity: CreateActivity
) -> None:
    now_done, later_done = create_activity(), create_activity()

    kizen_emulator.control.complete(now_done["id"])
    kizen_emulator.control.complete(later_done["id"], after_seconds=0.3)

    assert api.get(f"{SCHEDULED}/{now_done['id']}").json()["completed_at"] is not None
    assert api.get(f"{SCHEDULED}/{later_done['id']}").json()["completed_at"] is None
    time.sleep(0.4)
    later = api.get(f"{SCHEDULED}/{later_done['id']}").json()
    assert later["completed_at"] is not None
    assert api.get(f"/api/activities/logged/{later['logged_activity_id']}").status_code == 200


def test_auto_complete_applies_to_activities_created_afterwards(
    api: httpx.Client, kizen_emulator: EmulatorHandle, create_activity: CreateActivity
) -> None:
    before = create_activity()
    kizen_emulator.control.auto_complete(0.2)
    after = create_activity()
    kizen_emulator.control.auto_complete(None)
    untouched = create_activity()

    time.sleep(0.3)

    completed = {a["id"]: a["completed_at"] is not None for a in kizen_emulator.control.activities()}
    assert completed == {before["id"]: False, after["id"]: True, untouched["id"]: False}
