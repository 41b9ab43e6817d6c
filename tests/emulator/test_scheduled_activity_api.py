"""The scheduled-activity endpoints over real HTTP: create, validation, read, list, update, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.emulator.testing import EmulatorHandle

SCHEDULED = "/api/activities/scheduled-activity"
ADA = "ada.lovelace@example.com"
CreateActivity = Callable[..., dict[str, Any]]


def test_create_answers_201_with_the_read_shape(api: httpx.Client, kizen_emulator: EmulatorHandle) -> None:
    response = api.post(
        SCHEDULED,
        json={
            "activity_object_name": "follow_up_call",
            "due_datetime": "2026-12-01T10:00:00+00:00",
            "note": "Call about renewal",
            "associated_entities": [{"custom_object": {"name": "client_client"}, "entity": {"name": ADA}}],
            "notifications": [{"type": "email", "time_amount": 15, "time_unit": "minute"}],
        },
    )

    assert response.status_code == 201
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["activity_object"]["api_name"] == "follow_up_call"
    assert body["employee"]["id"] == seed.USER_ID
    assert body["due_datetime"] == body["original_due_datetime"] == "2026-12-01T10:00:00Z"
    assert body["completed_at"] is None
    assert body["logged_activity_id"] is None
    assert body["associated_entities"][0]["entity"]["email"] == ADA
    assert body["notifications"] == [{"type": "email", "time_amount": 15, "time_unit": "minute"}]
    assert kizen_emulator.control.activities() == [body]


def test_create_by_activity_type_id_and_entity_id(api: httpx.Client) -> None:
    contact = seed.CONTACTS[1]
    response = api.post(
        SCHEDULED,
        json={
            "activity_object_id": seed.seed_id("activity:proposal_review"),
            "due_datetime": "2026-12-02T09:30:00Z",
            "employee_id": seed.EMPLOYEES[1]["id"],
            "role_id": seed.ROLES[0]["id"],
            "associated_entities": [{"entity_id": contact["id"]}],
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["activity_object"]["api_name"] == "proposal_review"
    assert body["employee"]["display_name"] == "Jordan Reyes"
    assert body["role"]["name"] == "Account Manager"
    assert body["associated_entities"][0]["object_api_name"] == "client_client"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"activity_object_name": "follow_up_call"}, {"due_datetime": ["This field is required."]}),
        (
            {"due_datetime": "2026-12-01T10:00:00Z"},
            {"non_field_errors": ["One of activity_object_id or activity_object_name is required."]},
        ),
        (
            {"activity_object_name": "no_such_type", "due_datetime": "2026-12-01T10:00:00Z"},
            {
                "activity_object_name": [
                    {"message": "Object with api_name=no_such_type does not exist.", "code": "does_not_exist"}
                ]
            },
        ),
        (
            {"activity_object_name": "follow_up_call", "due_datetime": "tomorrow"},
            {
                "due_datetime": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
        ),
        (
            ["not", "an", "object"],
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        ),
    ],
)
def test_create_rejects_invalid_bodies_in_drf_shape(api: httpx.Client, body: object, expected: dict) -> None:  # type: ignore[type-arg]
    response = api.post(SCHEDULED, json=body)

    assert response.status_code == 400
    assert response.json() == expected
