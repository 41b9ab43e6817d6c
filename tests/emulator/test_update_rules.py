"""Writes on the detail route under each switchable guess: what PUT replaces, what a completed one refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.emulator.profiles import PROFILES
from airflow_provider_kizen.emulator.testing import EmulatorHandle, running_emulator
from airflow_provider_kizen.emulator.update_rules import COMPLETED_REFUSAL, UpdateRules

SCHEDULED = "/api/activities/scheduled-activity"
ADA = {"custom_object": {"name": "client_client"}, "entity": {"name": "ada.lovelace@example.com"}}
PRIYA = seed.EMPLOYEES[2]["id"]
CreateActivity = Callable[..., dict[str, Any]]


@pytest.fixture
def rich_activity(create_activity: CreateActivity) -> dict[str, Any]:
    """An activity with every optional field set away from its default."""
    return create_activity(
        note="call about the renewal",
        employee_id=PRIYA,
        associated_entities=[ADA],
        notifications=[{"type": "email", "time_amount": 30, "time_unit": "minute"}],
        mentions=[PRIYA],
        notify_mentioned=True,
    )


def test_put_replace_resets_what_it_leaves_out_but_keeps_type_and_first_due_time(
    api: httpx.Client, kizen_emulator: EmulatorHandle, rich_activity: dict[str, Any]
) -> None:
    assert kizen_emulator.control.update_rules() == {"put": "replace", "completed_writes": "accept"}

    response = api.put(f"{SCHEDULED}/{rich_activity['id']}", json={"due_datetime": "2026-12-05T09:00:00Z"})

    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["due_datetime"] == "2026-12-05T09:00:00Z"
    assert replaced["original_due_datetime"] == rich_activity["original_due_datetime"]
    assert replaced["activity_object"] == rich_activity["activity_object"]
    assert replaced["note"] == ""
    assert replaced["associated_entities"] == []
    assert replaced["notifications"] == []
    assert replaced["mentions"] == []
    assert replaced["notify_mentioned"] is False
    assert replaced["employee"]["id"] == seed.USER_ID  # nobody named: the API user, as on create


def test_put_merge_keeps_what_it_leaves_out(
    api: httpx.Client, kizen_emulator: EmulatorHandle, rich_activity: dict[str, Any]
) -> None:
    kizen_emulator.control.set_update_rules(put="merge")

    response = api.put(f"{SCHEDULED}/{rich_activity['id']}", json={"due_datetime": "2026-12-05T09:00:00Z"})

    assert response.status_code == 200, response.text
    assert response.json() == {**rich_activity, "due_datetime": "2026-12-05T09:00:00Z"}


@pytest.mark.parametrize("put", ["replace", "merge"])
def test_put_still_needs_a_due_time(
    api: httpx.Client, kizen_emulator: EmulatorHandle, create_activity: CreateActivity, put: str
) -> None:
    kizen_emulator.control.set_update_rules(put=put)
    created = create_activity()

    response = api.put(f"{SCHEDULED}/{created['id']}", json={"note": "no due time"})

    assert response.status_code == 400
    assert response.json() == {"due_datetime": ["This field is required."]}


def test_rescheduling_keeps_the_first_due_time(api: httpx.Client, rich_activity: dict[str, Any]) -> None:
    detail = f"{SCHEDULED}/{rich_activity['id']}"
    for due in ("2026-12-02T09:00:00Z", "2026-12-09T09:00:00Z"):
        assert api.patch(detail, json={"due_datetime": due}).status_code == 200

    moved = api.get(detail).json()

    assert moved["due_datetime"] == "2026-12-09T09:00:00Z"
    assert moved["original_due_datetime"] == "2026-12-01T10:00:00Z"
    assert moved == {**rich_activity, "due_datetime": "2026-12-09T09:00:00Z"}


def _write_all_three_ways(api: httpx.Client, activity_id: str) -> dict[str, httpx.Response]:
    detail = f"{SCHEDULED}/{activity_id}"
    return {
        "patch due": api.patch(detail, json={"due_datetime": "2027-01-04T09:00:00Z"}),
        "patch note": api.patch(detail, json={"note": "written after completion"}),
        "notes route": api.patch(f"{detail}/notes", json={"note": "via the notes route"}),
        "put": api.put(detail, json={"due_datetime": "2027-01-05T09:00:00Z", "note": "replaced"}),
    }


@pytest.mark.parametrize(
    ("completed_writes", "accepted"),
    [
        ("accept", {"patch due", "patch note", "notes route", "put"}),
        ("note_only", {"patch note", "notes route"}),
        ("refuse", set()),
    ],
)
def test_what_a_completed_activity_accepts(
    api: httpx.Client,
    kizen_emulator: EmulatorHandle,
    create_activity: CreateActivity,
    completed_writes: str,
    accepted: set[str],
) -> None:
    kizen_emulator.control.set_update_rules(completed_writes=completed_writes)
    activity = create_activity(note="before")
    kizen_emulator.control.complete(activity["id"])

    answers = _write_all_three_ways(api, activity["id"])

    assert {name for name, answer in answers.items() if answer.status_code == 200} == accepted
    refused = {name: answer.json() for name, answer in answers.items() if name not in accepted}
    for name, body in refused.items():
        assert answers[name].status_code == 400
        if completed_writes == "refuse":
            assert body == {"non_field_errors": [COMPLETED_REFUSAL]}, name
        else:
            assert body == {"due_datetime": [COMPLETED_REFUSAL]}, name
    if not accepted:
        assert api.get(f"{SCHEDULED}/{activity['id']}").json()["note"] == "before"


@pytest.mark.parametrize("completed_writes", ["accept", "note_only", "refuse"])
def test_writes_to_a_scheduled_activity_are_never_refused(
    api: httpx.Client, kizen_emulator: EmulatorHandle, create_activity: CreateActivity, completed_writes: str
) -> None:
    kizen_emulator.control.set_update_rules(completed_writes=completed_writes)
    activity = create_activity()

    answers = _write_all_three_ways(api, activity["id"])

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 200)


def test_a_completed_activity_can_still_be_deleted_and_a_missing_one_is_404(
    api: httpx.Client, kizen_emulator: EmulatorHandle, create_activity: CreateActivity
) -> None:
    kizen_emulator.control.set_update_rules(completed_writes="refuse")
    activity = create_activity()
    kizen_emulator.control.complete(activity["id"])
    detail = f"{SCHEDULED}/{activity['id']}"

    assert api.delete(detail).status_code == 204
    again = api.delete(detail)
    assert again.status_code == 404
    assert again.json() == {"detail": "Not found.", "code": "not_found"}
    assert api.patch(detail, json={"note": "x"}).status_code == 404
    assert api.put(detail, json={"due_datetime": "2027-01-01T00:00:00Z"}).status_code == 404


def test_the_control_plane_rejects_unknown_rules(kizen_emulator: EmulatorHandle) -> None:
    with pytest.raises(httpx.HTTPStatusError) as raised:
        kizen_emulator.control.set_update_rules(put="patchwork")
    assert raised.value.response.status_code == 422
    assert kizen_emulator.control.update_rules() == {"put": "replace", "completed_writes": "accept"}


def test_a_reset_goes_back_to_the_rules_the_emulator_started_with() -> None:
    startup = UpdateRules(put="merge", completed_writes="note_only")
    with running_emulator(update_rules=startup) as kizen:
        assert kizen.control.update_rules() == {"put": "merge", "completed_writes": "note_only"}
        kizen.control.set_update_rules(put="replace", completed_writes="refuse")
        assert kizen.control.update_rules() == {"put": "replace", "completed_writes": "refuse"}

        kizen.control.reset()

        assert kizen.control.update_rules() == {"put": "merge", "completed_writes": "note_only"}


def test_the_profile_and_the_update_rules_are_separate_settings_both_restored_by_a_reset() -> None:
    with running_emulator(profile="search-notes", update_rules=UpdateRules(put="merge")) as kizen:
        kizen.control.set_update_rules(completed_writes="refuse")
        assert kizen.control.profile() == PROFILES["search-notes"]
        kizen.control.set_profile("dates-created")
        assert kizen.control.update_rules() == {"put": "replace", "completed_writes": "refuse"}

        kizen.control.reset()

        assert kizen.control.profile() == PROFILES["search-notes"]
        assert kizen.control.update_rules() == {"put": "merge", "completed_writes": "accept"}


@pytest.mark.parametrize("kizen_emulator_update_rules", [UpdateRules(completed_writes="refuse")])
@pytest.mark.parametrize("kizen_emulator_profile", ["search-notes"])
def test_the_fixture_puts_a_profile_and_update_rules_in_force(kizen_emulator: EmulatorHandle) -> None:
    assert kizen_emulator.control.profile() == PROFILES["search-notes"]
    assert kizen_emulator.control.update_rules() == {"put": "replace", "completed_writes": "refuse"}
