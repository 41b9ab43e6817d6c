"""Record keys and the natural-key match used to reconcile creates whose outcome is unknown."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite
from airflow_provider_kizen.operators.reconciliation import (
    NaturalKey,
    canonical_json,
    hash_record_key,
    user_record_key,
)

CONTACT_ID = "0b6f6b8e-6a43-5a4c-9d0e-7f1d1a2b3c4d"
TYPE_ID = "5d1c2a52-3b8e-4c1e-9a57-0d6c4f8e2b10"


def write(**fields: Any) -> dict[str, Any]:
    payload = {
        "activity_object_name": "follow_up_call",
        "due_datetime": "2026-03-02T09:00:00+01:00",
        "note": "Call Ada about the renewal",
        "associated_entities": [
            {"custom_object": {"name": "client_client"}, "entity": {"name": "ada@example.com"}}
        ],
    }
    payload.update(fields)
    return ScheduledActivityWrite.model_validate(payload).to_request_json()


def read(**fields: Any) -> dict[str, Any]:
    activity = {
        "id": "a1",
        "activity_object": {"id": TYPE_ID, "name": "Follow-up Call", "api_name": "follow_up_call"},
        "due_datetime": "2026-03-02T08:00:00Z",
        "note": "Call Ada about the renewal",
        "associated_entities": [
            {
                "custom_object": {"id": "c1", "name": "client_client", "object_name": "Contacts"},
                "entity": {"id": CONTACT_ID, "name": "Ada Lovelace", "email": "Ada@example.com"},
            }
        ],
    }
    activity.update(fields)
    return activity


def test_hash_key_is_stable_and_ignores_key_order() -> None:
    one = hash_record_key({"a": 1, "b": [1, 2], "c": "é"})
    assert one == hash_record_key({"c": "é", "b": [1, 2], "a": 1})
    assert len(one) == 32
    assert one != hash_record_key({"a": 1, "b": [2, 1], "c": "é"})
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


@pytest.mark.parametrize(
    ("value", "expected"), [("k-1", "k-1"), (42, "42"), ("  ", None), (None, None), ({}, None)]
)
def test_user_record_key(value: Any, expected: str | None) -> None:
    assert user_record_key(value) == expected


def test_natural_key_matches_the_same_activity_in_kizen_read_shape() -> None:
    key = NaturalKey.from_request_json(write())
    # Same instant in another offset, entity named by email (case-insensitive), type by api_name.
    assert key.matches(read())


@pytest.mark.parametrize(
    "change",
    [
        {"due_datetime": "2026-03-02T09:00:00Z"},
        {"note": "Call Ada about the renewal!"},
        {"activity_object": {"id": TYPE_ID, "name": "Proposal Review", "api_name": "proposal_review"}},
        {"associated_entities": []},
        {
            "associated_entities": [
                {
                    "custom_object": {"id": "c1", "name": "client_client"},
                    "entity": {"id": "x", "email": "bob@x.com"},
                }
            ]
        },
    ],
)
def test_natural_key_rejects_any_difference(change: dict[str, Any]) -> None:
    assert not NaturalKey.from_request_json(write()).matches(read(**change))


def test_natural_key_by_ids() -> None:
    payload = write(
        activity_object_name=None,
        activity_object_id=TYPE_ID,
        associated_entities=[{"custom_object": {"name": "client_client"}, "entity": {"id": CONTACT_ID}}],
    )
    payload.pop("activity_object_name")
    key = NaturalKey.from_request_json(payload)
    assert key.matches(read())
    assert "activity_name" not in key.list_filters()


def test_list_filters_narrow_by_due_time_type_and_entity() -> None:
    filters = NaturalKey.from_request_json(write()).list_filters()
    assert filters == {
        "from_date": "2026-03-02T09:00:00+01:00",
        "to_date": "2026-03-02T09:00:00+01:00",
        "activity_name": "follow_up_call",
        "search": "ada@example.com",
    }


def test_list_filters_fall_back_to_a_note_prefix() -> None:
    payload = write(note="x" * 500)
    payload.pop("associated_entities")
    filters = NaturalKey.from_request_json(payload).list_filters()
    assert filters["search"] == "x" * 100
