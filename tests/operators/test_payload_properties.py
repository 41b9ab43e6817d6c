"""Generated payloads, hostile ones among them, through the operator's validation.

Two properties: every record the operator accepts sends a body the vendored OpenAPI request schema
accepts (formats included), and every record it refuses is refused as an `InvalidRecord` naming its
index and key: never another exception.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_kizen.operators.payloads import InvalidRecord, check_records, validate_record

OPENAPI = json.loads(
    resources.files("airflow_provider_kizen").joinpath("schemas/scheduled-activity.openapi.json").read_text()
)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or (RFC3339.fullmatch(value) is not None and _parses(value))


def _parses(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("uuid")
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: `nullable: true` becomes a `null` alternative."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


REQUEST_SCHEMA = {
    "$ref": "#/components/schemas/ScheduledActivityV2WriteRequest",
    "components": {"schemas": _json_schema(OPENAPI["components"]["schemas"])},
}
VALIDATOR = jsonschema.Draft202012Validator(REQUEST_SCHEMA, format_checker=FORMATS)

# Text as it comes: plain, blank, with NUL characters, lone surrogates and other control characters.
HOSTILE_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "\t\n", "\x00", "a\x00b", "\ud800", "x\udfff", "follow_up_call", "a@b.example"]
    ),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=6),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), HOSTILE_TEXT, st.binary(max_size=4)
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(HOSTILE_TEXT, st.integers(), st.none()), inner, max_size=3),
    ),
    max_leaves=6,
)


def _aware(earliest: datetime, latest: datetime) -> st.SearchStrategy[datetime]:
    """Aware datetimes in named zones, and at fixed offsets of whole minutes or of any seconds."""
    seconds = st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).map(lambda n: timedelta(seconds=n))
    minutes = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda n: timedelta(minutes=n))
    return st.datetimes(earliest, latest, timezones=st.timezones()) | st.builds(
        lambda moment, offset: moment.replace(tzinfo=timezone(offset)),
        st.datetimes(earliest, latest),
        minutes | seconds,
    )


AWARE = _aware(datetime(1, 1, 2), datetime(9999, 12, 30))
STORABLE = _aware(datetime(1901, 1, 1), datetime(9997, 12, 31))
DATETIMES = st.one_of(
    AWARE,
    AWARE.map(lambda moment: moment.isoformat()),
    AWARE.map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
    st.datetimes(),  # naive
    st.dates(),
    st.integers(),
    st.floats(),
    st.sampled_from(
        ["20270901", "1800000000", "1.8e9", "2027-09-01", "2027-09-01T10:00", "2027-13-01T10:00Z"]
    ),
    JSONISH,
)
UUIDS = st.one_of(st.uuids(), st.uuids().map(str), st.uuids().map(lambda u: u.hex), JSONISH)
NAMES = st.one_of(HOSTILE_TEXT, JSONISH)
REF = st.fixed_dictionaries({}, optional={"id": UUIDS, "name": NAMES}) | JSONISH
NOTIFICATION = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["email", "text", "sms"]) | JSONISH,
        "time_amount": st.one_of(st.integers(-2, 2**31 + 1), st.booleans(), st.floats(), JSONISH),
        "time_unit": st.sampled_from(["minute", "hour", "day", "week"]) | JSONISH,
    },
)
ENTITY = st.fixed_dictionaries(
    {},
    optional={"custom_object": REF, "entity": REF, "custom_object_id": UUIDS, "entity_id": UUIDS},
)
FIELDS = {
    "activity_object_id": UUIDS,
    "activity_object_name": NAMES,
    "due_datetime": DATETIMES,
    "original_due_datetime": DATETIMES,
    "employee_id": UUIDS | st.none(),
    "role_id": UUIDS | st.none(),
    "note": NAMES,
    "mentions": st.lists(UUIDS, max_size=3) | JSONISH,
    "notifications": st.lists(NOTIFICATION | JSONISH, max_size=3) | JSONISH,
    "associated_entities": st.lists(ENTITY | JSONISH, max_size=3) | JSONISH,
    "notify_mentioned": st.booleans() | JSONISH,
    "row_id": HOSTILE_TEXT | JSONISH,
}
VALID_REF = st.fixed_dictionaries({"name": st.sampled_from(["client_client", "a@b.example"])}) | st.builds(
    lambda u: {"id": str(u)}, st.uuids()
)
VALID_FIELDS = {
    "original_due_datetime": STORABLE,
    "employee_id": st.uuids().map(str) | st.none(),
    "mentions": st.lists(st.uuids(), max_size=2),
    "notifications": st.lists(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["email", "text"]),
                "time_amount": st.integers(1, 2**31 - 1),
                "time_unit": st.sampled_from(["minute", "hour", "day"]),
            }
        ),
        max_size=2,
    ),
    "associated_entities": st.lists(st.fixed_dictionaries({"custom_object": VALID_REF, "entity": VALID_REF})),
    "notify_mentioned": st.booleans(),
}
# A plausible record, then maybe one field replaced by anything: many are accepted and reach the schema.
PLAUSIBLE = st.fixed_dictionaries(
    {
        "activity_object_name": st.just("follow_up_call"),
        "due_datetime": STORABLE,
        "note": st.text(st.characters(exclude_characters="\x00"), max_size=20).map(lambda text: f"n{text}"),
        "row_id": st.text(max_size=8).map(lambda text: f"r{text}"),
    },
    optional=VALID_FIELDS,
)
ONE_FIELD = st.sampled_from(sorted(FIELDS)).flatmap(
    lambda name: FIELDS[name].map(lambda value: (name, value))
)
RECORDS = st.one_of(
    PLAUSIBLE,
    st.builds(lambda record, field: {**record, field[0]: field[1]}, PLAUSIBLE, ONE_FIELD),
    st.builds(
        lambda record, extra: {**record, **extra},
        PLAUSIBLE,
        st.dictionaries(st.one_of(HOSTILE_TEXT, st.integers()), JSONISH, min_size=1, max_size=2),
    ),
    st.fixed_dictionaries({}, optional=FIELDS),
    JSONISH,
)


@pytest.mark.filterwarnings("ignore:associated_entities:DeprecationWarning")
@settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    records=st.lists(RECORDS, min_size=1, max_size=4), dedupe_key=st.sampled_from([None, "row_id", "note"])
)
def test_accepted_records_fit_the_schema_and_refused_ones_are_named(
    records: list[Any], dedupe_key: Any
) -> None:
    checked = check_records(records, dedupe_key)
    assert len(checked.keys) == len(records)
    for index, record in enumerate(records):
        key = checked.keys[index]
        assert isinstance(key, str)
        assert key
        if index in checked.invalid:
            invalid = checked.invalid[index]
            assert (invalid.index, invalid.record_key) == (index, key)
            assert str(invalid).startswith(f"record {index} (key ")
            assert invalid.field_errors
            json.dumps(invalid.field_errors).encode("utf-8")  # fit for XCom and the task log
            event("refused")
            continue
        event("accepted")
        validated = checked.bodies[index]
        assert validated is not None
        body = validated.to_request_json()
        errors = sorted(VALIDATOR.iter_errors(body), key=str)
        assert not errors, f"accepted, but the schema refuses {body!r}: {errors[0].message}"
        _assert_storable(body)
        _assert_same_instant(record["due_datetime"], body["due_datetime"])


def _assert_storable(body: dict[str, Any]) -> None:
    """What the schema cannot say: no NUL, valid UTF-8, and dates in the years the model promises."""
    text = json.dumps(body, ensure_ascii=False)
    assert "\x00" not in text
    text.encode("utf-8")
    for name in ("due_datetime", "original_due_datetime"):
        if name in body:
            assert 1900 <= datetime.fromisoformat(body[name]).astimezone(UTC).year <= 9998


def _assert_same_instant(given_value: Any, sent: str) -> None:
    moment = given_value if isinstance(given_value, datetime) else datetime.fromisoformat(given_value)
    # In UTC: comparing across zones is always unequal for a moment in a gap or fold (PEP 495).
    assert datetime.fromisoformat(sent).astimezone(UTC) == moment.astimezone(UTC)


@pytest.mark.parametrize(
    "record",
    [
        {"due_datetime": "2026-03-02T09:00:00Z", 1: "x", "activity_object_name": "a"},
        {"due_datetime": "2026-03-02T09:00:00Z", "activity_object_name": "a", "note": "\ud800"},
        {"due_datetime": "2026-03-02T09:00:00Z", "associated_entities": [{None: 1, "entity": {2: 3}}]},
        {"\ud800": 1, 3.5: 2},
    ],
)
def test_the_hostile_records_once_seen_are_refused_and_named(record: dict[Any, Any]) -> None:
    with pytest.raises(InvalidRecord, match=r"^record 7 \(key [0-9a-f]{32}\): "):
        validate_record(7, record, None)
