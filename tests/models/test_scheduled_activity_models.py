from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pendulum
import pytest
from pydantic import ValidationError

from airflow_provider_kizen.models.scheduled_activity import (
    ScheduledActivity,
    ScheduledActivityUpdate,
    ScheduledActivityWrite,
)

UUID_A = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
UUID_B = "0d9c4a5e-8f1e-4f7b-9a57-3f1f3b7f0a11"
MINIMAL = {"activity_object_name": "follow_up_call", "due_datetime": "2026-03-02T09:00:00Z"}


def write(**fields) -> ScheduledActivityWrite:
    return ScheduledActivityWrite.model_validate({**MINIMAL, **fields})


def test_serialises_only_the_fields_that_were_set():
    assert write().to_request_json() == MINIMAL


def test_serialises_every_field_in_json_types():
    model = write(
        original_due_datetime=datetime(2026, 3, 1, 9, tzinfo=UTC),
        employee_id=UUID_A,
        role_id=None,
        note="Call about the renewal",
        mentions=[UUID_B],
        notifications=[{"type": "email", "time_amount": 30, "time_unit": "minute"}],
        associated_entities=[
            {"custom_object": {"name": "client_client"}, "entity": {"name": "ada@example.com"}}
        ],
        notify_mentioned=True,
    )
    assert model.to_request_json() == {
        **MINIMAL,
        "original_due_datetime": "2026-03-01T09:00:00Z",
        "employee_id": UUID_A,
        "role_id": None,
        "note": "Call about the renewal",
        "mentions": [UUID_B],
        "notifications": [{"type": "email", "time_amount": 30, "time_unit": "minute"}],
        "associated_entities": [
            {"custom_object": {"name": "client_client"}, "entity": {"name": "ada@example.com"}}
        ],
        "notify_mentioned": True,
    }


def test_notify_mentioned_defaults_to_false_without_being_sent():
    model = write()
    assert model.notify_mentioned is False
    assert "notify_mentioned" not in model.to_request_json()


def test_rejects_unknown_fields():
    with pytest.raises(ValidationError, match="due_date"):
        write(due_date="2026-03-02T09:00:00Z")


def test_requires_due_datetime():
    with pytest.raises(ValidationError, match="due_datetime"):
        ScheduledActivityWrite.model_validate({"activity_object_name": "follow_up_call"})


@pytest.mark.parametrize(
    "fields",
    [
        {"activity_object_id": UUID_A},
        {"activity_object_name": "follow_up_call"},
    ],
)
def test_one_activity_type_reference_is_enough(fields):
    model = ScheduledActivityWrite.model_validate({"due_datetime": "2026-03-02T09:00:00Z", **fields})
    assert model.to_request_json().keys() == {"due_datetime", *fields}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "not neither"),
        (
            {"activity_object_id": UUID_A, "activity_object_name": "x"},
            "activity_object_id and activity_object_name",
        ),
        ({"activity_object_name": None}, "not neither"),
    ],
)
def test_exactly_one_activity_type_reference(fields, words):
    with pytest.raises(ValidationError, match=words):
        ScheduledActivityWrite.model_validate({"due_datetime": "2026-03-02T09:00:00Z", **fields})


def test_rejects_naive_datetimes_with_advice():
    with pytest.raises(ValidationError, match="has no timezone; give an offset"):
        write(due_datetime=datetime(2026, 3, 2, 9))
    with pytest.raises(ValidationError, match="has no timezone"):
        write(due_datetime="2026-03-02T09:00:00")
    with pytest.raises(ValidationError, match="has no timezone"):
        write(original_due_datetime="2026-03-02T09:00:00")


def test_keeps_the_offset_of_aware_datetimes():
    model = write(due_datetime=pendulum.datetime(2026, 3, 2, 9, tz="Europe/Paris"))
    assert model.to_request_json()["due_datetime"] == "2026-03-02T09:00:00+01:00"


@pytest.mark.parametrize(
    "notification",
    [
        {"type": "sms", "time_amount": 1, "time_unit": "minute"},
        {"type": "email", "time_amount": 0, "time_unit": "minute"},
        {"type": "email", "time_amount": 2147483648, "time_unit": "minute"},
        {"type": "email", "time_amount": 1, "time_unit": "week"},
        {"type": "email", "time_amount": 1},
    ],
)
def test_notification_bounds_and_enums(notification):
    with pytest.raises(ValidationError, match="notifications"):
        write(notifications=[notification])


def test_notification_upper_bound_is_allowed():
    model = write(notifications=[{"type": "text", "time_amount": 2147483647, "time_unit": "day"}])
    assert model.to_request_json()["notifications"][0]["time_amount"] == 2147483647


@pytest.mark.parametrize(
    "entity",
    [
        {"custom_object": {}, "entity": {"name": "ada@example.com"}},
        {"custom_object": {"name": "client_client"}, "entity": {"name": ""}},
        {"custom_object": {"name": "client_client"}},
        {"custom_object": {"name": "client_client"}, "entity": {"email": "ada@example.com"}},
    ],
)
def test_associated_entities_need_an_entity_and_id_or_name_wherever_a_side_is_given(entity):
    with pytest.raises(ValidationError, match="associated_entities"):
        write(associated_entities=[entity])


@pytest.mark.parametrize("entity", [{"entity": {"id": UUID_A}}, {"entity": {"name": "ada@example.com"}}])
def test_an_entity_alone_is_accepted_as_kizens_schema_allows(entity):
    # The schema marks custom_object optional and nullable; entity.name may be a contact's email.
    assert write(associated_entities=[entity]).to_request_json()["associated_entities"] == [entity]


def test_deprecated_flat_ids_are_accepted_with_a_warning():
    with pytest.warns(DeprecationWarning, match="is deprecated by Kizen") as warned:
        model = write(associated_entities=[{"custom_object_id": UUID_A, "entity_id": UUID_B}])
    messages = [str(warning.message) for warning in warned]
    assert any("custom_object_id is deprecated" in message for message in messages)
    assert any("entity_id is deprecated" in message for message in messages)
    assert model.to_request_json()["associated_entities"] == [
        {"custom_object_id": UUID_A, "entity_id": UUID_B}
    ]


def test_mentions_must_be_uuids():
    with pytest.raises(ValidationError, match="mentions"):
        write(mentions=["ada"])


@pytest.mark.parametrize("field", ["note", "mentions", "notifications", "notify_mentioned", "due_datetime"])
def test_an_explicit_null_is_refused_where_kizen_does_not_allow_one(field):
    with pytest.raises(ValidationError, match="may not be null"):
        write(**{field: None})


def test_read_model_keeps_what_kizen_sends():
    activity = ScheduledActivity.model_validate(
        {
            "id": UUID_A,
            "due_datetime": "2026-03-02T09:00:00Z",
            "completed_at": None,
            "logged_activity_id": None,
            "activity_object": {"id": UUID_B, "name": "Follow-up call", "api_name": "follow_up_call"},
            "employee": {"id": UUID_B, "display_name": "Ada Lovelace", "email": "ada@example.com"},
            "mentions": [],
            "notifications": [{"type": "email", "time_amount": 30, "time_unit": "minute"}],
            "associated_entities": [],
            "associated_fields": [],
            "a_field_kizen_added_later": {"x": 1},
        }
    )
    assert not activity.is_completed
    assert isinstance(activity.activity_object, dict)
    assert activity.activity_object["api_name"] == "follow_up_call"
    assert activity.model_extra == {"a_field_kizen_added_later": {"x": 1}}
    assert activity.model_dump(mode="json")["a_field_kizen_added_later"] == {"x": 1}


def test_read_model_accepts_string_references_as_the_schema_types_them():
    activity = ScheduledActivity.model_validate({"id": UUID_A, "activity_object": UUID_B, "employee": UUID_B})
    assert activity.activity_object == UUID_B


@pytest.mark.parametrize("fields", [{"completed_at": "2026-03-02T10:00:00Z"}, {"logged_activity_id": UUID_B}])
def test_is_completed(fields):
    assert ScheduledActivity.model_validate({"id": UUID_A, **fields}).is_completed


@pytest.mark.parametrize(
    "value",
    ["20270901", 20270901, 1.8e9, "1800000000", "1.8e9", True, "2027-09-01", datetime(2027, 9, 1).date()],
)
def test_a_due_time_is_never_read_from_a_number_or_a_bare_date(value):
    """Pydantic would read these as Unix timestamps (20270901 is 1970-08-23) or as midnight."""
    with pytest.raises(ValidationError, match="give an ISO 8601 date and time with an offset"):
        write(due_datetime=value)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:30+01:00", "9999-12-31T23:00-05:00", "1899-12-31T23:59:59Z", "9999-01-01T00:00:00Z"],
)
def test_due_times_kizen_cannot_store_are_refused(value):
    with pytest.raises(ValidationError, match="outside the years 1900 to 9998 \\(in UTC\\)"):
        write(due_datetime=value)


@pytest.mark.parametrize(
    "value", ["1900-01-01T00:00:00Z", "9998-12-31T23:59:59Z", "1900-01-01T01:00:00+01:00"]
)
def test_the_year_bounds_are_inclusive_in_utc(value):
    assert write(due_datetime=value).to_request_json()["due_datetime"].startswith(value[:4])


def test_an_offset_with_seconds_is_sent_as_the_same_instant_in_utc():
    """Pydantic writes only the minutes of an offset: +00:19:32 would be sent 32 seconds off."""
    amsterdam_1920 = timezone(timedelta(minutes=19, seconds=32))
    model = write(due_datetime=datetime(1920, 6, 1, 12, tzinfo=amsterdam_1920))
    assert model.to_request_json()["due_datetime"] == "1920-06-01T11:40:28Z"


@pytest.mark.parametrize("value", [1, 0, "true", "yes", 1.0])
def test_notify_mentioned_is_only_a_boolean(value):
    with pytest.raises(ValidationError, match="notify_mentioned"):
        write(notify_mentioned=value)


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_a_time_amount(value):
    notification = {"type": "email", "time_amount": value, "time_unit": "minute"}
    with pytest.raises(ValidationError, match="give a whole number, not the boolean"):
        write(notifications=[notification])


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"note": "call\x00back"}, "NUL character at position 4"),
        ({"note": "caf\ud800"}, "lone surrogate at position 3"),
        ({"activity_object_name": "   "}, "is blank"),
        ({"activity_object_name": "\t\n"}, "is blank"),
        ({"activity_object_name": "a\x00"}, "NUL character"),
        (
            {"associated_entities": [{"custom_object": {"name": " "}, "entity": {"name": "a@b.c"}}]},
            "is blank",
        ),
        (
            {"associated_entities": [{"custom_object": {"name": "x"}, "entity": {"name": "\udc80"}}]},
            "surrogate",
        ),
        ({"note": b"bytes"}, "valid string"),
    ],
)
def test_text_kizen_would_refuse_or_cannot_be_encoded_is_refused(fields, words):
    with pytest.raises(ValidationError, match=words):
        write(**fields)


def test_an_empty_note_is_still_allowed():
    assert write(note="").to_request_json()["note"] == ""


def test_update_sends_only_the_fields_given():
    update = ScheduledActivityUpdate(note="Moved to Thursday", employee_id=None)
    assert update.to_request_json() == {"note": "Moved to Thursday", "employee_id": None}
    assert ScheduledActivityUpdate().to_request_json() == {}
    assert ScheduledActivityUpdate(notify_mentioned=False).to_request_json() == {"notify_mentioned": False}


def test_update_takes_every_field_a_create_takes_except_the_activity_type():
    create_only = {"activity_object_id", "activity_object_name"}
    assert set(ScheduledActivityUpdate.model_fields) == set(ScheduledActivityWrite.model_fields) - create_only
    assert all(not field.is_required() for field in ScheduledActivityUpdate.model_fields.values())


@pytest.mark.parametrize("field", ["activity_object_id", "activity_object_name"])
def test_update_refuses_the_activity_type_and_says_why(field):
    with pytest.raises(ValidationError, match="can only be set when the activity is created") as raised:
        ScheduledActivityUpdate.model_validate({field: "follow_up_call", "note": "x"})
    assert field in str(raised.value)


@pytest.mark.parametrize("field", ["due_datetime", "note", "notifications", "notify_mentioned"])
def test_update_refuses_a_null_kizen_does_not_allow(field):
    with pytest.raises(ValidationError, match="may not be null"):
        ScheduledActivityUpdate.model_validate({field: None})


def test_update_rejects_unknown_fields_and_naive_datetimes():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ScheduledActivityUpdate.model_validate({"notes": "typo"})
    with pytest.raises(ValidationError, match="has no timezone"):
        ScheduledActivityUpdate.model_validate({"due_datetime": "2026-03-02T09:00:00"})


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"due_datetime": 20270901}, "give an ISO 8601 date and time with an offset"),
        ({"due_datetime": "9999-01-01T00:00:00Z"}, "outside the years 1900 to 9998"),
        ({"notify_mentioned": 1}, "notify_mentioned"),
        ({"note": "call\x00back"}, "NUL character"),
        ({"notifications": [{"type": "email", "time_amount": True, "time_unit": "minute"}]}, "boolean"),
    ],
)
def test_update_applies_the_write_models_strict_types(fields, words):
    with pytest.raises(ValidationError, match=words):
        ScheduledActivityUpdate.model_validate(fields)
