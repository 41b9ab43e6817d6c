"""The operator's input: the rendered `payload` as records, each validated exactly once before any is sent.

A record that carries its activity's id (under the operator's `activity_id_key`) is an update: its other
fields are checked as the fields to compare and change (``ScheduledActivityUpdate``), and the activity
type it may name is only checked, since it can only be set on create. Any other record is a create.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ValidationError

from airflow_provider_kizen.models.scheduled_activity import (
    CREATE_ONLY_FIELDS,
    ActivityTypeRef,
    ScheduledActivityUpdate,
    ScheduledActivityWrite,
    ValidatedWrite,
    check_text,
)
from airflow_provider_kizen.operators.reconciliation import hash_record_key, user_record_key
from airflow_provider_kizen.operators.updating import UpdateRecord

_Checked = TypeVar("_Checked", ScheduledActivityWrite, ScheduledActivityUpdate, ActivityTypeRef)


class InvalidRecord(Exception):
    """A record that cannot be sent: its index, key, and one message per offending field."""

    def __init__(self, index: int, record_key: str, field_errors: dict[str, list[str]]) -> None:
        self.index, self.record_key, self.field_errors = index, record_key, field_errors
        details = "; ".join(f"{name}: {' '.join(reasons)}" for name, reasons in field_errors.items())
        super().__init__(f"record {index} (key {record_key}): {details}")


def parse_payload(payload: Any) -> tuple[list[Any], bool]:
    """The records of a rendered `payload`, and whether it was one payload rather than a list."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise AirflowFailException(
                "payload rendered to a string that is not JSON; use `| tojson` in the template, or "
                f"render_template_as_native_obj=True on the DAG ({exc})"
            ) from None
    if isinstance(payload, (Mapping, BaseModel)):
        return [payload], True
    if isinstance(payload, list):
        return payload, False  # read only: a batch of 100,000 needs no second list
    if isinstance(payload, Sequence) and not isinstance(payload, (str, bytes)):
        return list(payload), False
    raise AirflowFailException(
        f"payload must be a dict, a ScheduledActivityWrite, or a list of them, not {type(payload).__name__}"
    )


def as_json(record: Any) -> Any:
    """Models become the plain JSON they would send, so template fields and XCom stay plain JSON."""
    if isinstance(record, ScheduledActivityWrite):
        return record.to_request_json()
    return record


def validate_record(
    index: int, record: Any, dedupe_key: str | None, activity_id_key: str | None = None
) -> tuple[str, ScheduledActivityWrite | UpdateRecord]:
    """Record key and what to send for one record; raises InvalidRecord naming the fields at fault.

    With a `dedupe_key` that is not a field of the write model, that field is record metadata: it names
    the record and is removed before validation. The `activity_id_key` field is always metadata; a
    record with a value there is an update of that activity.
    """
    if not isinstance(record, Mapping):
        problem = f"a record must be an object, not {type(record).__name__}"
        raise InvalidRecord(index, hash_record_key({"record": record}), {"payload": [problem]})
    body = dict(record)
    user_key = None
    if dedupe_key is not None:
        user_key = user_record_key(body.get(dedupe_key))
        if dedupe_key not in ScheduledActivityWrite.model_fields:
            body.pop(dedupe_key, None)
    bad_keys = _non_text_keys(body)
    errors = dict(bad_keys)
    if dedupe_key is not None:
        try:
            if user_key is None:
                raise ValueError("is missing or empty")
            check_text(user_key)
        except ValueError as exc:
            errors[dedupe_key] = [f"The dedupe key {exc}."]
            user_key = None
    raw_id = body.pop(activity_id_key, None) if activity_id_key is not None else None
    activity_id = user_record_key(raw_id)
    if isinstance(raw_id, (dict, list, bool)):
        errors[str(activity_id_key)] = [f"Not an activity id: {type(raw_id).__name__}."]
    elif activity_id is not None:
        try:
            check_text(activity_id)
        except ValueError as exc:
            errors[str(activity_id_key)] = [f"The activity id {exc}."]
    model: ScheduledActivityWrite | UpdateRecord | None = None
    key_source: dict[str, Any] = body
    if bad_keys:
        pass  # pydantic would report such a key, but the record could not be named
    elif activity_id is None:
        model = _validated(ScheduledActivityWrite, body, errors)
        if model is not None:
            key_source = model.to_request_json()
    else:
        activity_type = {name: body.pop(name) for name in CREATE_ONLY_FIELDS if body.get(name) is not None}
        checked_type = _validated(ActivityTypeRef, activity_type, errors)
        changes = _validated(ScheduledActivityUpdate, body, errors)
        if checked_type is not None and changes is not None:
            model = UpdateRecord(activity_id, changes.to_request_json(), checked_type.to_request_json())
        key_source = {**body, **activity_type, str(activity_id_key): activity_id}
    if errors or model is None:
        raise InvalidRecord(index, user_key or hash_record_key(body), errors)
    return user_key or hash_record_key(key_source), model


def _validated(
    model_class: type[_Checked], body: dict[str, Any], errors: dict[str, list[str]]
) -> _Checked | None:
    """`body` validated into `model_class`, or None with its field errors added to `errors`."""
    try:
        return model_class.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            errors.setdefault(_field_name(error["loc"]), []).append(error["msg"])
        return None


@dataclass
class CheckedRecords:
    """Every record validated once: keys in input order, the invalid ones, and the bodies to send.

    `bodies[i]` is the validated body of record i (None when it is invalid, or once it was handed out):
    a `ValidatedWrite` to create, or an `UpdateRecord` for an activity the record names.
    """

    keys: list[str] = field(default_factory=list)
    invalid: dict[int, InvalidRecord] = field(default_factory=dict)
    bodies: list[ValidatedWrite | UpdateRecord | None] = field(default_factory=list)

    def duplicates(self) -> dict[int, int]:
        """Valid records whose key an earlier valid record carries, mapped to that first record.

        Records sharing a key are one logical record: only the first is sent.
        """
        first_with_key: dict[str, int] = {}
        duplicate_of: dict[int, int] = {}
        for index, key in enumerate(self.keys):
            if index in self.invalid:
                continue
            first = first_with_key.setdefault(key, index)
            if first != index:
                duplicate_of[index] = first
        return duplicate_of


def check_records(
    records: list[Any], dedupe_key: str | None, activity_id_key: str | None = None
) -> CheckedRecords:
    """Validate every record before anything is sent, keeping each body in its compact sendable form."""
    checked = CheckedRecords()
    for index, record in enumerate(records):
        try:
            key, model = validate_record(index, record, dedupe_key, activity_id_key)
        except InvalidRecord as invalid:
            checked.invalid[index] = invalid
            checked.keys.append(invalid.record_key)
            checked.bodies.append(None)
        else:
            checked.keys.append(key)
            checked.bodies.append(
                ValidatedWrite.of(model) if isinstance(model, ScheduledActivityWrite) else model
            )
    return checked


def _non_text_keys(data: Any, location: tuple[int | str, ...] = ()) -> dict[str, list[str]]:
    """Field errors for mapping keys that are not strings, anywhere in a record: JSON keys are text."""
    errors: dict[str, list[str]] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, str):
                errors.update(_non_text_keys(value, (*location, key)))
            else:
                errors.setdefault(_field_name(location), []).append(
                    f"has the key {key!r:.40} of type {type(key).__name__}; keys must be strings"
                )
    elif isinstance(data, (list, tuple)):
        for position, item in enumerate(data):
            errors.update(_non_text_keys(item, (*location, position)))
    return errors


def _field_name(location: tuple[int | str, ...]) -> str:
    """`notifications[0].time_amount` for a pydantic location; odd characters in names are escaped."""
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            text = part if part.isprintable() else ascii(part)
            name += f".{text}" if name else text
    return name or "payload"
