"""Payload parsing, validation messages and record keys, before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite
from airflow_provider_kizen.operators.payloads import (
    InvalidRecord,
    check_records,
    parse_payload,
    validate_record,
)
from airflow_provider_kizen.operators.reconciliation import hash_record_key
from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator
from airflow_provider_kizen.operators.updating import UpdateRecord

VALID = {"activity_object_name": "follow_up_call", "due_datetime": "2026-05-04T10:00:00Z", "note": "Hi"}


@pytest.mark.parametrize(
    ("payload", "records", "single"),
    [
        (VALID, [VALID], True),
        ([VALID, VALID], [VALID, VALID], False),
        ((VALID,), [VALID], False),
        ('{"note": "x"}', [{"note": "x"}], True),
        ('[{"note": "x"}]', [{"note": "x"}], False),
        ([], [], False),
    ],
)
def test_parse_payload(payload: Any, records: list[Any], single: bool) -> None:
    assert parse_payload(payload) == (records, single)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("[{'note': 'x'}]", r"not JSON; use `\| tojson`"),
        (None, "not NoneType"),
        (42, "not int"),
    ],
)
def test_parse_payload_says_what_is_wrong(payload: Any, message: str) -> None:
    with pytest.raises(AirflowFailException, match=message):
        parse_payload(payload)


def test_models_become_plain_json_in_the_template_field() -> None:
    model = ScheduledActivityWrite.model_validate(VALID)
    operator = ScheduleActivityOperator(task_id="t", payload=[model])
    assert operator.payload == [
        {"activity_object_name": "follow_up_call", "due_datetime": "2026-05-04T10:00:00Z", "note": "Hi"}
    ]


def test_invalid_records_are_named_by_index_key_field_and_reason() -> None:
    checked = check_records(
        [
            {**VALID, "row_id": "r0"},
            {"row_id": "r1", "activity_object_name": "follow_up_call", "due_datetime": "soon"},
            {**VALID},
            "not a record",
            {**VALID, "row_id": "r4", "associated_entities": [{"custom_object": {"name": "client_client"}}]},
        ],
        dedupe_key="row_id",
    )
    assert list(checked.invalid) == [1, 2, 3, 4]
    assert str(checked.invalid[1]).startswith(
        "record 1 (key r1): due_datetime: Value error, give an ISO 8601 date and time with an offset"
    )
    assert checked.invalid[2].field_errors == {"row_id": ["The dedupe key is missing or empty."]}
    assert checked.invalid[3].field_errors == {"payload": ["a record must be an object, not str"]}
    assert list(checked.invalid[4].field_errors) == ["associated_entities[0]"]
    assert checked.keys[0] == "r0"


def test_a_metadata_dedupe_key_is_not_sent_and_a_field_dedupe_key_is() -> None:
    key, model = validate_record(0, {**VALID, "row_id": " r0 "}, dedupe_key="row_id")
    assert key == "r0"
    assert "row_id" not in model.to_request_json()
    key, model = validate_record(0, VALID, dedupe_key="note")
    assert key == "Hi"
    assert model.to_request_json()["note"] == "Hi"


def test_the_default_key_hashes_the_validated_body() -> None:
    key, model = validate_record(0, VALID, dedupe_key=None)
    assert key == hash_record_key(model.to_request_json())
    # The same instant written the same way validates to the same body, whatever the key order.
    assert validate_record(0, dict(reversed(list(VALID.items()))), dedupe_key=None)[0] == key


def test_checked_records_keep_the_validated_body_once_and_know_their_duplicates() -> None:
    other = {**VALID, "note": "Other"}
    checked = check_records([VALID, {"note": "no type"}, other, VALID], dedupe_key=None)
    assert list(checked.invalid) == [1]
    assert checked.bodies[1] is None
    assert [body.to_request_json() for body in (checked.bodies[0], checked.bodies[2]) if body] == [
        validate_record(0, VALID, dedupe_key=None)[1].to_request_json(),
        validate_record(2, other, dedupe_key=None)[1].to_request_json(),
    ]
    assert checked.duplicates() == {3: 0}


def test_a_plan_only_run_validates_each_record_once_and_returns_one_result_per_record(mocker) -> None:  # type: ignore[no-untyped-def]
    validations = mocker.spy(ScheduledActivityWrite, "model_validate")
    pushed: dict[str, Any] = {}
    ti = mocker.Mock(xcom_push=lambda key, value: pushed.__setitem__(key, value))
    operator = ScheduleActivityOperator(
        task_id="t", payload=[VALID, {"note": "no type"}, VALID], skip_invalid=True, plan_only=True
    )

    results = operator.execute({"ti": ti})  # type: ignore[typeddict-item]

    assert validations.call_count == 3
    assert [(r["index"], r["status"]) for r in results] == [
        (0, "would_create"),
        (1, "invalid"),
        (2, "would_create"),
    ]
    assert results[0]["payload"] == VALID
    assert pushed["activity_ids"] == []
    assert [entry["index"] for entry in pushed["failures"]] == [1]


def test_one_payload_in_a_plan_only_run_gives_a_list_of_one(mocker) -> None:  # type: ignore[no-untyped-def]
    operator = ScheduleActivityOperator(task_id="t", payload=VALID, plan_only=True)
    results = operator.execute({"ti": mocker.Mock()})  # type: ignore[typeddict-item]
    assert [(r["index"], r["status"], r["payload"]) for r in results] == [(0, "would_create", VALID)]


def test_a_dedupe_key_that_is_not_text_fit_for_kizen_is_refused_and_the_record_hashed() -> None:
    checked = check_records([{**VALID, "row_id": "r\ud800"}, {**VALID, "row_id": "a\x00"}], "row_id")
    assert checked.invalid[0].field_errors == {
        "row_id": ["The dedupe key contains a lone surrogate at position 1, which is not valid text."]
    }
    assert "NUL character" in checked.invalid[1].field_errors["row_id"][0]
    assert all(len(key) == 32 for key in checked.keys)


def test_non_string_keys_are_refused_where_they_are() -> None:
    record = {**VALID, 1: "x", "associated_entities": [{"entity": {2: "y"}, "custom_object": {"name": "c"}}]}
    checked = check_records([VALID, record], None)
    assert checked.invalid[1].field_errors == {
        "payload": ["has the key 1 of type int; keys must be strings"],
        "associated_entities[0].entity": ["has the key 2 of type int; keys must be strings"],
    }
    assert str(checked.invalid[1]).startswith(f"record 1 (key {checked.keys[1]}): payload: has the key 1")


ACTIVITY_ID = "6a0e3c1b-2f4d-4e8a-9b7c-1d2e3f405162"


def test_a_record_naming_its_activity_is_an_update_of_the_fields_it_sets() -> None:
    record = {**VALID, "row_id": "r1", "activity_id": ACTIVITY_ID}

    key, update = validate_record(0, record, "row_id", "activity_id")

    assert key == "r1"
    assert isinstance(update, UpdateRecord)
    assert update.activity_id == ACTIVITY_ID
    assert update.changes == {"due_datetime": "2026-05-04T10:00:00Z", "note": "Hi"}
    assert update.activity_type == {"activity_object_name": "follow_up_call"}


def test_an_update_needs_no_due_time_nor_activity_type() -> None:
    key, update = validate_record(3, {"activity_id": ACTIVITY_ID, "note": "Moved"}, None, "activity_id")

    assert isinstance(update, UpdateRecord)
    assert update.changes == {"note": "Moved"}
    assert update.activity_type == {}
    assert key == hash_record_key({"note": "Moved", "activity_id": ACTIVITY_ID})


@pytest.mark.parametrize("empty", [None, "", "  "])
def test_a_record_with_an_empty_activity_id_is_a_create(empty: Any) -> None:
    _, model = validate_record(0, {**VALID, "activity_id": empty}, None, "activity_id")
    assert isinstance(model, ScheduledActivityWrite)


def test_without_an_activity_id_key_the_field_is_unknown() -> None:
    with pytest.raises(InvalidRecord, match="activity_id: Extra inputs are not permitted"):
        validate_record(0, {**VALID, "activity_id": ACTIVITY_ID}, None, None)


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"activity_id": {"id": ACTIVITY_ID}}, "activity_id", "Not an activity id"),
        ({"activity_id": ACTIVITY_ID, "activity_object_id": "not-a-uuid"}, "activity_object_id", "UUID"),
        ({"activity_id": ACTIVITY_ID, "due_datetime": "2026-05-04T10:00:00"}, "due_datetime", "no timezone"),
        ({"activity_id": ACTIVITY_ID, "note": None}, "note", "may not be null"),
        ({"activity_id": ACTIVITY_ID, "notes": "typo"}, "notes", "Extra inputs"),
        ({"activity_id": "a\x00b", "note": "x"}, "activity_id", "NUL character"),
        ({"activity_id": ACTIVITY_ID, "note": "a\ud800"}, "note", "lone surrogate"),
        ({"activity_id": ACTIVITY_ID, "notify_mentioned": 1}, "notify_mentioned", "boolean"),
    ],
)
def test_an_invalid_update_names_its_field(record: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidRecord) as raised:
        validate_record(2, record, None, "activity_id")
    assert message in " ".join(raised.value.field_errors[field])
    assert str(raised.value).startswith("record 2 (key ")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activity_id_key": "note"}, "is a field of Kizen's payload"),
        ({"activity_id_key": "row_id", "dedupe_key": "row_id"}, "must be different fields"),
    ],
)
def test_the_activity_id_key_must_be_a_field_of_ones_own(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduleActivityOperator(task_id="t", payload=[], **kwargs)
