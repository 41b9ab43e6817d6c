"""Payload parsing, validation messages and record keys, before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite
from airflow_provider_kizen.operators.record_keys import hash_record_key
from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator, parse_payload

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
    operator = ScheduleActivityOperator(task_id="t", payload=[], dedupe_key="row_id")
    checked = operator._check(
        [
            {**VALID, "row_id": "r0"},
            {"row_id": "r1", "activity_object_name": "follow_up_call", "due_datetime": "soon"},
            {**VALID},
            "not a record",
            {**VALID, "row_id": "r4", "associated_entities": [{"entity": {"name": "a@example.com"}}]},
        ]
    )
    assert list(checked.invalid) == [1, 2, 3, 4]
    assert str(checked.invalid[1]).startswith(
        "record 1 (key r1): due_datetime: Input should be a valid datetime"
    )
    assert checked.invalid[2].field_errors == {"row_id": ["The dedupe key is missing or empty."]}
    assert checked.invalid[3].field_errors == {"payload": ["a record must be an object, not str"]}
    assert list(checked.invalid[4].field_errors) == ["associated_entities[0]"]
    assert checked.keys[0] == "r0"


def test_a_metadata_dedupe_key_is_not_sent_and_a_field_dedupe_key_is() -> None:
    by_row = ScheduleActivityOperator(task_id="t", payload=[], dedupe_key="row_id")
    key, model = by_row._validate(0, {**VALID, "row_id": " r0 "})
    assert key == "r0"
    assert "row_id" not in model.to_request_json()
    by_note = ScheduleActivityOperator(task_id="t", payload=[], dedupe_key="note")
    key, model = by_note._validate(0, VALID)
    assert key == "Hi"
    assert model.to_request_json()["note"] == "Hi"


def test_the_default_key_hashes_the_validated_body() -> None:
    operator = ScheduleActivityOperator(task_id="t", payload=[])
    key, model = operator._validate(0, VALID)
    assert key == hash_record_key(model.to_request_json())
    # The same instant written the same way validates to the same body, whatever the key order.
    assert operator._validate(0, dict(reversed(list(VALID.items()))))[0] == key
