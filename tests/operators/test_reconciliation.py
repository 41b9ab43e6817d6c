"""Record keys and the natural-key match used to reconcile creates whose outcome is unknown."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite
from airflow_provider_kizen.operators.reconciliation import (
    Match,
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
    assert key.search_term is None


@pytest.mark.parametrize("note", ["Call Ada about the renewal \n", "  Call Ada  about the\nrenewal"])
def test_notes_compare_as_kizen_stores_them_trimmed(note: str) -> None:
    # DRF's CharField trims: a template's trailing newline is not in the stored note.
    assert NaturalKey.from_request_json(write(note=note)).matches(read())


def test_a_different_note_alone_is_told_apart_from_another_activity() -> None:
    key = NaturalKey.from_request_json(write())
    assert key.compare(read(note="Rewritten by Kizen")) is Match.NOTE_DIFFERS
    assert key.compare(read(due_datetime="2026-03-02T09:00:00Z")) is Match.OTHER


def test_assignee_as_written_must_match() -> None:
    employee = "7e1c2a52-3b8e-4c1e-9a57-0d6c4f8e2b10"
    key = NaturalKey.from_request_json(write(employee_id=employee))
    assert key.matches(read(employee={"id": employee}))
    assert not key.matches(read(employee={"id": "someone-else"}))
    # Not written: whoever Kizen assigned it to.
    assert NaturalKey.from_request_json(write()).matches(read(employee={"id": "someone-else"}))


def test_non_ascii_names_are_searched_as_written_and_matched_casefolded() -> None:
    company = {"custom_object": {"name": "client_company"}, "entity": {"name": "Straßenbau Müller GmbH"}}
    key = NaturalKey.from_request_json(write(associated_entities=[company]))
    assert key.search_term == "Straßenbau Müller GmbH"
    stored = {"custom_object": {"name": "client_company"}, "entity": {"name": "STRASSENBAU MÜLLER GMBH"}}
    assert key.matches(read(associated_entities=[stored]))
