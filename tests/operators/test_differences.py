"""Comparing a record with its activity by meaning: round trips through the emulator change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityUpdate
from airflow_provider_kizen.operators.differences import activity_type_differs, changed_fields

JORDAN, PRIYA = seed.EMPLOYEES[1]["id"], seed.EMPLOYEES[2]["id"]
SALES = seed.ROLES[0]["id"]
ADA = {"custom_object": {"name": "client_client"}, "entity": {"name": "Ada.Lovelace@example.com"}}
GRACE = {"custom_object": {"name": "client_client"}, "entity": {"name": "grace.hopper@example.com"}}
RECORD = {
    "due_datetime": "2026-03-02T09:00:00+01:00",
    "original_due_datetime": "2026-03-01T09:00:00+01:00",
    "employee_id": JORDAN,
    "note": "  Call Ada about the renewal\n",
    "mentions": [PRIYA, JORDAN],
    "notifications": [
        {"type": "email", "time_amount": 1, "time_unit": "hour"},
        {"type": "text", "time_amount": 15, "time_unit": "minute"},
    ],
    "associated_entities": [ADA, GRACE],
    "notify_mentioned": True,
}


def wanted(**fields: Any) -> dict[str, Any]:
    """An update body as the operator builds it: validated, JSON, only the fields given."""
    return ScheduledActivityUpdate.model_validate({**RECORD, **fields}).to_request_json()


@pytest.fixture
def activity(kizen_connection: str) -> dict[str, Any]:
    """RECORD created in the emulator, in Kizen's read shape (UTC, objects, ids, trimmed note)."""
    hook = KizenHook()
    try:
        created = hook.create_scheduled_activity({"activity_object_name": "follow_up_call", **RECORD})
    finally:
        hook.close()
    return created.model_dump(mode="json")


def test_a_record_and_the_activity_made_from_it_do_not_differ(activity: dict[str, Any]) -> None:
    assert activity["due_datetime"] == "2026-03-02T08:00:00Z"  # the text differs, the instant does not
    assert changed_fields(wanted(), activity) == {}


@pytest.mark.parametrize(
    "change",
    [
        {"due_datetime": "2026-03-02T10:00:00+01:00"},
        {"original_due_datetime": "2026-02-27T09:00:00Z"},
        {"employee_id": PRIYA},
        {"employee_id": None},
        {"role_id": SALES},
        {"note": "Call Ada about the renewal (moved)"},
        {"mentions": [PRIYA]},
        {"notifications": [{"type": "email", "time_amount": 2, "time_unit": "hour"}]},
        {"associated_entities": [ADA]},
        {"associated_entities": [GRACE, {**ADA, "entity": {"name": "alan.turing@example.com"}}]},
        {"notify_mentioned": False},
    ],
    ids=lambda change: "-".join(change),
)
def test_each_changed_field_is_found_alone(activity: dict[str, Any], change: dict[str, Any]) -> None:
    body = wanted(**change)
    assert changed_fields(body, activity) == {name: body[name] for name in change}


@pytest.mark.parametrize(
    "same",
    [
        {"due_datetime": "2026-03-02T03:00:00-05:00"},
        {"note": "Call Ada about the renewal"},
        {"mentions": [JORDAN, PRIYA]},
        {"notifications": list(reversed(RECORD["notifications"]))},
        {"associated_entities": [GRACE, ADA]},
        {"employee_id": JORDAN.upper()},
    ],
    ids=lambda same: "-".join(same),
)
def test_the_same_meaning_written_differently_is_no_change(
    activity: dict[str, Any], same: dict[str, Any]
) -> None:
    assert changed_fields(wanted(**same), activity) == {}


def test_entities_by_id_match_entities_by_name(activity: dict[str, Any]) -> None:
    by_id = [
        {"custom_object": {"id": item["custom_object"]["id"]}, "entity": {"id": item["entity"]["id"]}}
        for item in activity["associated_entities"]
    ]
    assert changed_fields(wanted(associated_entities=by_id), activity) == {}


def test_only_the_fields_a_record_sets_are_compared(activity: dict[str, Any]) -> None:
    assert changed_fields({"note": "Call Ada about the renewal"}, activity) == {}
    assert changed_fields({}, activity) == {}


def test_activity_type_by_api_name_or_id(activity: dict[str, Any]) -> None:
    type_id = activity["activity_object"]["id"]
    assert not activity_type_differs({"activity_object_name": "follow_up_call"}, activity)
    assert not activity_type_differs({"activity_object_name": "Follow-up Call"}, activity)
    assert not activity_type_differs({"activity_object_id": type_id.upper()}, activity)
    assert not activity_type_differs({}, activity)
    assert activity_type_differs({"activity_object_name": "proposal_review"}, activity)
    assert activity_type_differs({"activity_object_id": seed.ACTIVITY_TYPES[2]["id"]}, activity)
