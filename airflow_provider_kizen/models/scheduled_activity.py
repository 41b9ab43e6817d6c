"""Scheduled-activity payloads: strict create and update models, and a lenient read model.

`ScheduledActivityWrite` mirrors Kizen's ``ScheduledActivityV2WriteRequest`` field for field (the OpenAPI
document is vendored in ``airflow_provider_kizen/schemas``), rejects unknown fields so that a typo fails
instead of vanishing, and serialises only the fields the caller set: Kizen warns that partial payloads
can overwrite data, so a null the caller did not write is never sent.

Types are strict at this edge, because a lax conversion hides the mistake from Kizen:

- datetimes are ISO 8601 strings with an offset (``2026-03-02T09:00:00+01:00``, ``...Z``) or aware
  datetimes (``pendulum.datetime(2026, 3, 2, 9, tz="Europe/Paris")``). Naive values would mean a different
  moment on Kizen's side than in the DAG author's head; numbers and digit strings (``20270901``) would be
  read as Unix timestamps. The instant must fall in the years 1900 to 9998 in UTC: outside them a date is
  a mistake (a lost century, a sentinel), and the years 1 and 9999 overflow once shifted by a time zone.
- booleans are ``true``/``false``, never ``0``/``1``; integers are never booleans.
- text holds no NUL characters (Kizen refuses them) and no lone surrogates (they cannot be encoded as
  UTF-8); names are not blank (Kizen strips whitespace, then refuses an empty name).

`ScheduledActivityUpdate` is the same fields for a PATCH, every one optional, without the activity type.

`ScheduledActivity` mirrors ``ScheduledActivityV2Read`` but keeps whatever Kizen returns: fields the
OpenAPI types as strings (``activity_object``, ``employee``) arrive as objects in practice.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Required
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

MAX_INT32 = 2147483647
# The years a due time may fall in, in UTC (see the module docstring).
EARLIEST_YEAR, LATEST_YEAR = 1900, 9998
# A date and a time of day: what every ISO 8601 datetime starts with, and no number does.
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _datetime_input(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE_TIME.match(value):
        return value
    raise ValueError(
        f"give an ISO 8601 date and time with an offset (e.g. 2026-03-02T09:00:00+01:00) or an aware "
        f"datetime, not {type(value).__name__} {value!r:.40}"
    )


def _aware_and_storable(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(
            f"{value.isoformat()} has no timezone; give an offset (e.g. {value.isoformat()}+00:00) "
            "or an aware datetime such as pendulum.datetime(..., tz='Europe/Paris')"
        )
    try:
        year = (value.replace(tzinfo=None) - offset).year
    except OverflowError:
        year = 0
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(
            f"{value.isoformat()} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR} (in UTC) "
            "that Kizen can store"
        )
    if offset % timedelta(minutes=1):
        # ISO 8601 offsets are whole minutes (some historic zones are not): the same instant in UTC.
        return value.astimezone(UTC)
    return value


def check_text(value: str) -> str:
    """`value` unchanged, or a ValueError when it holds a NUL or a lone surrogate."""
    if "\x00" in value:
        raise ValueError(f"contains a NUL character at position {value.index(chr(0))}, which Kizen refuses")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains a lone surrogate at position {exc.start}, which is not valid text"
        ) from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank; Kizen strips whitespace and then refuses an empty name")
    return value


def _not_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"give a whole number, not the boolean {value}")
    return value


Instant = Annotated[datetime, BeforeValidator(_datetime_input), AfterValidator(_aware_and_storable)]
Text = Annotated[str, Strict(), AfterValidator(check_text)]
Name = Annotated[Text, AfterValidator(_not_blank), Field(min_length=1)]


class _Strict(BaseModel):
    # defer_build: the validators are built on first use, not when a DAG file imports the operator.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    def to_request_json(self) -> dict[str, Any]:
        """The JSON body for Kizen: only the fields that were set, nested models included."""
        return self.model_dump(mode="json", exclude_unset=True)


class _IdOrName(_Strict):
    id: UUID | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _needs_id_or_name(self) -> _IdOrName:
        if self.id is None and self.name is None:
            raise ValueError("give id or name")
        return self


class CustomObjectRef(_IdOrName):
    """A custom object by id or by name (its api name, e.g. ``client_client`` for contacts)."""


class EntityRef(_IdOrName):
    """A record by id or by name; for contacts the name may be the contact's email."""


class AssociatedEntity(_Strict):
    """A record the activity is about: ``{"custom_object": {id|name}, "entity": {id|name}}``.

    The deprecated flat ``custom_object_id`` / ``entity_id`` are still accepted, with a DeprecationWarning.
    The entity is required; the custom object may be left out, as Kizen's schema allows (a contact is
    then found by its email: ``{"entity": {"name": "ada@example.com"}}``).
    """

    custom_object: CustomObjectRef | None = None
    entity: EntityRef | None = None
    custom_object_id: UUID | None = None  # deprecated by Kizen
    entity_id: UUID | None = None  # deprecated by Kizen

    @model_validator(mode="before")
    @classmethod
    def _warn_deprecated(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, replacement in (("custom_object_id", "custom_object"), ("entity_id", "entity")):
                if data.get(name) is not None:
                    warnings.warn(
                        f"associated_entities[].{name} is deprecated by Kizen; "
                        f"use {replacement}={{'id': ...}} instead",
                        DeprecationWarning,
                        stacklevel=2,
                    )
        return data

    @model_validator(mode="after")
    def _needs_entity(self) -> AssociatedEntity:
        if self.entity is None and self.entity_id is None:
            raise ValueError("give entity ({id} or {name}; a contact's name may be its email)")
        return self


class Notification(_Strict):
    """A reminder before the due time: ``{"type": "email", "time_amount": 30, "time_unit": "minute"}``."""

    type: Literal["email", "text"]
    time_amount: Annotated[int, BeforeValidator(_not_boolean)] = Field(ge=1, le=MAX_INT32)
    time_unit: Literal["minute", "hour", "day"]


# Fields the OpenAPI document does not mark nullable: a None written for them is a mistake, not a value.
_NOT_NULLABLE = (
    "activity_object_id",
    "due_datetime",
    "original_due_datetime",
    "note",
    "mentions",
    "notifications",
    "notify_mentioned",
)
# The activity type can only be set when the activity is created.
CREATE_ONLY_FIELDS = ("activity_object_id", "activity_object_name")


class _ScheduledActivityFields(_Strict):
    """The fields a create and an update share, and their checks."""

    due_datetime: Instant | None = None
    original_due_datetime: Instant | None = None
    employee_id: UUID | None = None
    role_id: UUID | None = None
    note: Text | None = None
    mentions: list[UUID] | None = None
    notifications: list[Notification] | None = None
    associated_entities: list[AssociatedEntity] | None = None
    notify_mentioned: StrictBool | None = None

    # check_fields=False: `activity_object_id` exists on the create model only.
    @field_validator(*_NOT_NULLABLE, mode="before", check_fields=False)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out instead")
        return value


class ActivityTypeRef(_Strict):
    """An activity type, by id or by api_name. Only a create can set it; an update can only be checked."""

    activity_object_id: UUID | None = None
    activity_object_name: Name | None = None


class ScheduledActivityWrite(_ScheduledActivityFields, ActivityTypeRef):
    """The body of ``POST /api/activities/scheduled-activity`` (Kizen's ScheduledActivityV2WriteRequest).

    `due_datetime` is required and exactly one of `activity_object_id` / `activity_object_name`
    (the activity type's api_name) must be given.
    """

    due_datetime: Instant
    notify_mentioned: StrictBool = False

    @model_validator(mode="after")
    def _exactly_one_activity_type(self) -> ScheduledActivityWrite:
        given = [name for name in CREATE_ONLY_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of activity_object_id (the activity type's id) or activity_object_name "
                f"(its api_name), not {' and '.join(given) or 'neither'}"
            )
        return self


@dataclass(frozen=True, slots=True)
class ValidatedWrite:
    """The request JSON of a `ScheduledActivityWrite` that was already validated, as compact UTF-8 JSON.

    A batch holds every record from validation until it is sent. A model costs about 2.6 KB of Python
    objects, this about 0.25 KB, and sending it needs no second validation.
    """

    body: bytes

    @classmethod
    def of(cls, model: ScheduledActivityWrite) -> ValidatedWrite:
        return cls(json.dumps(model.to_request_json(), separators=(",", ":"), ensure_ascii=False).encode())

    def to_request_json(self) -> dict[str, Any]:
        """The JSON body for Kizen, as `ScheduledActivityWrite.to_request_json()` gave it."""
        body: dict[str, Any] = json.loads(self.body)
        return body


class ScheduledActivityUpdate(_ScheduledActivityFields):
    """The body of ``PATCH /api/activities/scheduled-activity/{id}``: only the fields to change.

    Every field is optional, and only the fields given are sent, so a PATCH never clears what the
    caller did not mention. The activity type cannot be changed: Kizen sets it on create only.
    """

    @model_validator(mode="before")
    @classmethod
    def _no_activity_type(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [name for name in CREATE_ONLY_FIELDS if name in data]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} can only be set when the activity is created; Kizen ignores it "
                    "on update. To change the activity type, cancel this activity and create a new one."
                )
        return data


class ScheduledActivityStatus(BaseModel):
    """What waiting for a scheduled activity needs to know of it.

    Validated straight from a page's JSON bytes, the fields it does not declare are skipped by the
    parser: a page of 1,000 activities then costs a few thousand objects, not every nested field's.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: str
    due_datetime: datetime | None = None
    created: datetime | None = None
    completed_at: datetime | None = None
    logged_activity_id: str | None = None

    @property
    def is_completed(self) -> bool:
        """Kizen has no status field: an activity is completed once it has been logged."""
        return is_completed(self.status())

    def status(self) -> ActivityStatus:
        """What a wait reads of the activity, as an `ActivityStatus`."""
        return {
            "id": self.id,
            "due_datetime": self.due_datetime,
            "created": self.created,
            "completed_at": self.completed_at,
            "logged_activity_id": self.logged_activity_id,
        }


class ActivityStatus(TypedDict, total=False):
    """`ScheduledActivityStatus`'s fields as a plain dict: what a wait reads of each activity on a page.

    Its values are text, datetimes and None, so the garbage collector never tracks it. A page of 1,000
    models is some 3,000 tracked objects alive while the page is read; the young collections they set
    off moved them into the oldest generation, and a triggerer reading page after page soon paused for
    a full collection (over 100 ms with Airflow loaded). A page also validates into these in half the
    time.
    """

    id: Required[str]
    due_datetime: datetime | None
    created: datetime | None
    completed_at: datetime | None
    logged_activity_id: str | None


def is_completed(status: ActivityStatus) -> bool:
    """Kizen has no status field: an activity is completed once it has been logged."""
    return status.get("completed_at") is not None or status.get("logged_activity_id") is not None


class ScheduledActivity(ScheduledActivityStatus):
    """A scheduled activity as Kizen returns it. Unknown fields are kept (``model_extra``)."""

    # Its values (ids, times, notes) rarely repeat: caching them too kept some 16,000 strings alive.
    model_config = ConfigDict(extra="allow", defer_build=True, cache_strings="keys")

    original_due_datetime: datetime | None = None
    note: str | None = None
    # Typed `string` in the OpenAPI document, but objects ({id, name, api_name, ...}) in practice.
    activity_object: dict[str, Any] | str | None = None
    employee: dict[str, Any] | str | None = None
    role: dict[str, Any] | str | None = None
    mentions: list[Any] | dict[str, Any] | None = None
    notifications: list[Any] | str | None = None
    associated_entities: list[Any] | None = None
    associated_fields: Any = None
    access: dict[str, Any] | None = None
