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


@pytest.mark.parametrize(
    ("entity", "field", "expected_message"),
    [
        (
            {"custom_object": {"name": "client_client"}, "entity": {"name": "nobody@example.com"}},
            "entity",
            "Object with name=nobody@example.com does not exist.",
        ),
        (
            {"custom_object": {"name": "no_such_object"}, "entity": {"name": "ada.lovelace@example.com"}},
            "custom_object",
            "Object with name=no_such_object does not exist.",
        ),
        (
            {"custom_object": {"name": "client_company"}, "entity": {"id": seed.CONTACTS[0]["id"]}},
            "entity",
            f"Object with id={seed.CONTACTS[0]['id']} does not exist.",
        ),
    ],
)
def test_unknown_associated_records_answer_does_not_exist(
    api: httpx.Client, entity: dict[str, Any], field: str, expected_message: str
) -> None:
    response = api.post(
        SCHEDULED,
        json={
            "activity_object_name": "follow_up_call",
            "due_datetime": "2026-12-01T10:00:00Z",
            "associated_entities": [entity],
        },
    )

    assert response.status_code == 400
    assert response.json() == {
        "associated_entities": [{field: [{"message": expected_message, "code": "does_not_exist"}]}]
    }


@pytest.mark.parametrize("field", ["employee_id", "role_id", "activity_object_id"])
def test_unknown_ids_answer_does_not_exist(api: httpx.Client, field: str) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    body = {"activity_object_name": "follow_up_call", "due_datetime": "2026-12-01T10:00:00Z", field: unknown}

    response = api.post(SCHEDULED, json=body)

    assert response.status_code == 400
    assert response.json() == {
        field: [{"message": f'Invalid pk "{unknown}" - object does not exist.', "code": "does_not_exist"}]
    }


def test_company_entities_resolve_by_name(api: httpx.Client) -> None:
    company = seed.COMPANIES[0]
    entity = {"custom_object": {"id": seed.COMPANIES_OBJECT["id"]}, "entity": {"name": company["name"]}}

    response = api.post(
        SCHEDULED,
        json={
            "activity_object_name": "follow_up_call",
            "due_datetime": "2026-12-01",
            "associated_entities": [entity],
        },
    )

    assert response.status_code == 201, response.text
    assert response.json()["associated_entities"][0]["entity_id"] == company["id"]


def test_nested_field_errors_use_drf_shapes(api: httpx.Client) -> None:
    response = api.post(
        SCHEDULED,
        json={
            "activity_object_name": "",
            "due_datetime": None,
            "notify_mentioned": "perhaps",
            "notifications": [{"type": "pigeon", "time_amount": 0}],
        },
    )

    assert response.status_code == 400
    assert response.json() == {
        "activity_object_name": ["This field may not be blank."],
        "due_datetime": ["This field may not be null."],
        "notify_mentioned": ["Must be a valid boolean."],
        "notifications": [
            {
                "type": ['"pigeon" is not a valid choice.'],
                "time_amount": ["Ensure this value is greater than or equal to 1."],
                "time_unit": ["This field is required."],
            }
        ],
    }


def test_malformed_json_answers_a_parse_error(api: httpx.Client) -> None:
    response = api.post(SCHEDULED, content=b"{not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_due_datetimes_are_answered_in_utc(create_activity: CreateActivity) -> None:
    created = create_activity(due_datetime="2026-12-01T12:00:00+02:00")

    assert created["due_datetime"] == "2026-12-01T10:00:00Z"


def test_detail_get_put_patch_delete(api: httpx.Client, create_activity: CreateActivity) -> None:
    created = create_activity(note="first")
    detail = f"{SCHEDULED}/{created['id']}"

    assert api.get(detail).json() == created

    replaced = api.put(
        detail,
        json={
            "due_datetime": "2026-12-03T08:00:00Z",
            "note": "second",
            "activity_object_name": "proposal_review",
        },
    )
    assert replaced.status_code == 200
    assert replaced.json()["note"] == "second"
    assert replaced.json()["due_datetime"] == "2026-12-03T08:00:00Z"
    assert replaced.json()["original_due_datetime"] == "2026-12-01T10:00:00Z"
    # activity_object_* can only be set on create.
    assert replaced.json()["activity_object"]["api_name"] == "follow_up_call"

    assert api.put(detail, json={"note": "no due date"}).json() == {
        "due_datetime": ["This field is required."]
    }

    patched = api.patch(detail, json={"employee_id": seed.EMPLOYEES[2]["id"]})
    assert patched.status_code == 200
    assert patched.json()["employee"]["display_name"] == "Priya Natarajan"
    assert patched.json()["note"] == "second"

    assert api.delete(detail).status_code == 204
    assert api.get(detail).status_code == 404
    assert api.get(detail).json() == {"detail": "Not found.", "code": "not_found"}
    assert api.delete(detail).status_code == 404


def test_patch_notes_changes_only_the_note(api: httpx.Client, create_activity: CreateActivity) -> None:
    created = create_activity(note="before")

    response = api.patch(
        f"{SCHEDULED}/{created['id']}/notes", json={"note": "after", "due_datetime": "2030-01-01"}
    )

    assert response.status_code == 200
    assert response.json() == {**created, "note": "after"}
    missing = api.patch(f"{SCHEDULED}/{created['id']}/notes", json={})
    assert missing.json() == {"note": ["This field is required."]}
    assert api.patch(f"{SCHEDULED}/no-such-id/notes", json={"note": "x"}).status_code == 404


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["results"]]


def test_list_filters(
    api: httpx.Client, kizen_emulator: EmulatorHandle, create_activity: CreateActivity
) -> None:
    call = create_activity(due_datetime="2026-12-01T09:00:00Z", note="Renewal call")
    review = create_activity(
        activity_object_name="proposal_review",
        due_datetime="2026-12-02T09:00:00Z",
        employee_id=seed.EMPLOYEES[1]["id"],
        associated_entities=[{"custom_object": {"name": "client_client"}, "entity": {"name": ADA}}],
    )
    check_in = create_activity(
        activity_object_name="onboarding_check_in",
        due_datetime="2026-12-03T09:00:00Z",
        role_id=seed.ROLES[1]["id"],
    )
    kizen_emulator.control.complete(review["id"])

    assert _ids(api.get(SCHEDULED)) == [call["id"], review["id"], check_in["id"]]
    assert _ids(api.get(SCHEDULED, params={"ordering": "-due_datetime"})) == [
        check_in["id"],
        review["id"],
        call["id"],
    ]
    assert _ids(api.get(SCHEDULED, params={"ordering": "-created"}))[0] == check_in["id"]
    assert _ids(
        api.get(SCHEDULED, params={"from_date": "2026-12-02T09:00:00Z", "to_date": "2026-12-03T09:00:00Z"})
    ) == [review["id"], check_in["id"]]
    assert _ids(api.get(SCHEDULED, params={"search": "LOVELACE"})) == [review["id"]]
    assert _ids(api.get(SCHEDULED, params={"search": "renewal"})) == [call["id"]]
    assert _ids(api.get(SCHEDULED, params={"activity_name": "onboarding_check_in"})) == [check_in["id"]]
    assert _ids(api.get(SCHEDULED, params={"activity_name": "Proposal Review"})) == [review["id"]]
    assert _ids(api.get(SCHEDULED, params={"employee_ids": f"{seed.EMPLOYEES[1]['id']},x"})) == [review["id"]]
    assert _ids(api.get(SCHEDULED, params={"role_ids": seed.ROLES[1]["id"]})) == [check_in["id"]]
    assert _ids(api.get(SCHEDULED, params={"completed": "true"})) == [review["id"]]
    assert _ids(api.get(SCHEDULED, params={"completed": "false"})) == [call["id"], check_in["id"]]
    assert _ids(api.get(SCHEDULED, params={"assigned_to_me": "true"})) == [call["id"]]
    assert api.get(SCHEDULED, params={"from_date": "soon"}).json() == {
        "from_date": ["Enter a valid date/time."]
    }


def test_list_pagination_envelope_has_absolute_links(
    api: httpx.Client, create_activity: CreateActivity
) -> None:
    created = [create_activity(due_datetime=f"2026-12-0{day}T10:00:00Z")["id"] for day in range(1, 6)]

    first = api.get(SCHEDULED, params={"page_size": 2}).json()
    assert first["count"] == 5
    assert first["previous"] is None
    assert [item["id"] for item in first["results"]] == created[:2]
    second = httpx.get(first["next"], headers=api.headers).json()
    assert [item["id"] for item in second["results"]] == created[2:4]
    assert second["previous"].startswith(str(api.base_url))
    last = httpx.get(second["next"], headers=api.headers).json()
    assert [item["id"] for item in last["results"]] == created[4:]
    assert last["next"] is None
    assert api.get(SCHEDULED, params={"page": 9}).json() == {"detail": "Invalid page.", "code": "not_found"}
    assert api.get(SCHEDULED, params={"page_size": 5000}).json()["count"] == 5


def test_an_empty_list_is_one_empty_page(api: httpx.Client) -> None:
    assert api.get(SCHEDULED).json() == {"count": 0, "next": None, "previous": None, "results": []}
