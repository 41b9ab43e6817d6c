"""Request-body validation that answers like Kizen's Django REST framework serializers.

Plain functions rather than pydantic models: the create path is the emulator's hot path, and a
hand-written check is both faster and able to reproduce DRF's exact error shapes. Format errors are
DRF's plain strings; references to records that do not exist use the `{"message", "code"}` form with
code `does_not_exist`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from airflow_provider_kizen.emulator.catalog import Catalog

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
NOT_BLANK = "This field may not be blank."
_BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
_MAX_INT = 2147483647
_NOTIFICATION_TYPES = frozenset({"email", "text"})
_TIME_UNITS = frozenset({"minute", "hour", "day"})
_TRUE = frozenset({True, "true", "True", "TRUE", "1", "yes", "on", "y"})
_FALSE = frozenset({False, "false", "False", "FALSE", "0", "no", "off", "n"})
_NULLABLE = frozenset({"employee_id", "role_id", "associated_entities", "activity_object_name"})

# Fields that only a create may set; an update ignores them, as Kizen's update serializer does.
CREATE_ONLY_FIELDS = ("activity_object_id", "activity_object_name")


class ValidationFailed(Exception):
    """A 400: `errors` is the DRF error body."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


class FieldInvalid(Exception):
    """One field's value is wrong; `detail` is that field's DRF error."""

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


def does_not_exist(message: str) -> list[dict[str, str]]:
    return [{"message": message, "code": "does_not_exist"}]


def type_name(value: object) -> str:
    return {dict: "dict", list: "list", str: "str", int: "int", float: "float", bool: "bool"}.get(
        type(value), type(value).__name__
    )


def parse_datetime(value: object) -> datetime:
    """An aware UTC datetime from DRF's ISO 8601 input; naive values are taken as UTC."""
    if not isinstance(value, str):
        raise FieldInvalid([_BAD_DATETIME])
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise FieldInvalid([_BAD_DATETIME]) from None


def format_datetime(value: datetime) -> str:
    """DRF's output form: ISO 8601 in UTC, written with `Z`."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _uuid(value: object) -> str:
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            pass
    raise FieldInvalid(["Must be a valid UUID."])


def _string(value: object, *, allow_blank: bool) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldInvalid(["Not a valid string."])
    text = str(value)
    if "\x00" in text:
        raise FieldInvalid(["Null characters are not allowed."])
    text = text.strip()
    if not text and not allow_blank:
        raise FieldInvalid([NOT_BLANK])
    return text


def _boolean(value: object) -> bool:
    try:
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    except TypeError:  # unhashable input such as a list
        pass
    raise FieldInvalid(["Must be a valid boolean."])


def _integer(value: object) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        number = int(value.strip())
    if number is None:
        raise FieldInvalid(["A valid integer is required."])
    if number < 1:
        raise FieldInvalid(["Ensure this value is greater than or equal to 1."])
    if number > _MAX_INT:
        raise FieldInvalid([f"Ensure this value is less than or equal to {_MAX_INT}."])
    return number


def _choice(value: object, choices: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise FieldInvalid([f'"{value}" is not a valid choice.'])
    return value


def _mapping(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldInvalid(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name(value)}."]}
        )
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise FieldInvalid([f'Expected a list of items but got type "{type_name(value)}".'])
    return value


_NOTIFICATION_CHECKS: tuple[tuple[str, Callable[[object], Any]], ...] = (
    ("type", lambda v: _choice(v, _NOTIFICATION_TYPES)),
    ("time_amount", _integer),
    ("time_unit", lambda v: _choice(v, _TIME_UNITS)),
)


class ScheduledActivityValidator:
    """Turns a write body into the read-shape fields it sets, or raises `ValidationFailed`."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        # (field, check) pairs, built once rather than on every request.
        self._update_checks: list[tuple[str, Any]] = [
            ("due_datetime", parse_datetime),
            ("original_due_datetime", parse_datetime),
            ("employee_id", _uuid),
            ("role_id", _uuid),
            ("note", lambda v: _string(v, allow_blank=True)),
            ("mentions", self._mentions),
            ("notifications", self._notifications),
            ("associated_entities", self._associated_entities),
            ("notify_mentioned", _boolean),
        ]
        # The activity type can only be set on create; an update ignores it.
        self._create_checks = [
            *self._update_checks,
            ("activity_object_id", _uuid),
            ("activity_object_name", lambda v: _string(v, allow_blank=False)),
        ]

    @property
    def update_fields(self) -> tuple[str, ...]:
        """The body fields an update may set."""
        return tuple(name for name, _ in self._update_checks)

    def validate(
        self, body: object, *, creating: bool, partial: bool, requesting_user_id: str
    ) -> dict[str, Any]:
        """The read-shape fields to store. A create fills defaults; an update returns only what changes."""
        if not isinstance(body, dict):
            raise ValidationFailed(
                {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name(body)}."]}
            )
        errors: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for name, check in self._create_checks if creating else self._update_checks:
            if name not in body:
                continue
            value = body[name]
            try:
                if value is None:
                    if name not in _NULLABLE:
                        raise FieldInvalid([NOT_NULL])
                    fields[name] = None
                else:
                    fields[name] = check(value)
            except FieldInvalid as invalid:
                errors[name] = invalid.detail
        if not partial and "due_datetime" not in body:
            errors["due_datetime"] = [REQUIRED]
        if errors:
            raise ValidationFailed(errors)
        return self._resolve(fields, creating=creating, requesting_user_id=requesting_user_id)

    def _mentions(self, value: object) -> list[dict[str, Any]]:
        mentions = []
        for item in _list(value):
            if item is None:
                continue
            employee_id = _uuid(item)
            employee = self._catalog.employees.get(employee_id)
            if employee is None:
                raise FieldInvalid(does_not_exist(f'Invalid pk "{employee_id}" - object does not exist.'))
            mentions.append(Catalog.employee_read(employee))
        return mentions

    @staticmethod
    def _notifications(value: object) -> list[dict[str, Any]]:
        notifications: list[dict[str, Any]] = []
        item_errors: list[Any] = []
        for item in _list(value):
            errors: dict[str, Any] = {}
            try:
                entry = _mapping(item)
            except FieldInvalid as invalid:
                item_errors.append(invalid.detail)
                continue
            clean: dict[str, Any] = {}
            for name, check in _NOTIFICATION_CHECKS:
                if name not in entry:
                    errors[name] = [REQUIRED]
                    continue
                try:
                    if entry[name] is None:
                        raise FieldInvalid([NOT_NULL])
                    clean[name] = check(entry[name])
                except FieldInvalid as invalid:
                    errors[name] = invalid.detail
            item_errors.append(errors)
            notifications.append(clean)
        if any(item_errors):
            raise FieldInvalid(item_errors)
        return notifications

    def _associated_entities(self, value: object) -> list[dict[str, Any]]:
        resolved: list[dict[str, Any]] = []
        item_errors: list[Any] = []
        for item in _list(value):
            try:
                resolved.append(self._associated_entity(item))
                item_errors.append({})
            except FieldInvalid as invalid:
                item_errors.append(invalid.detail)
        if any(item_errors):
            raise FieldInvalid(item_errors)
        return resolved

    def _associated_entity(self, item: object) -> dict[str, Any]:
        """Resolve the nested form, or the deprecated `custom_object_id` / `entity_id` form."""
        entry = _mapping(item)
        errors: dict[str, Any] = {}
        object_ref = self._reference(entry, "custom_object", "custom_object_id", errors)
        entity_ref = self._reference(entry, "entity", "entity_id", errors)
        if errors:
            raise FieldInvalid(errors)
        custom_object = None
        if object_ref is not None:
            key, field, ident = object_ref
            custom_object = (
                self._catalog.custom_objects.get(ident)
                if field == "id"
                else self._catalog.custom_object_by_name(ident)
            )
            if custom_object is None:
                raise FieldInvalid({key: does_not_exist(f"Object with {field}={ident} does not exist.")})
        if entity_ref is None:
            raise FieldInvalid({"entity": [REQUIRED]})
        key, field, ident = entity_ref
        if field == "id":
            entity = self._catalog.entities.get(ident)
            if (
                entity is not None
                and custom_object is not None
                and entity["custom_object_id"] != custom_object["id"]
            ):
                entity = None
        elif custom_object is None:
            # The schema allows a name alone ("Name of entity or email of contact"); which records
            # Kizen then searches is not documented, so contacts by email come first.
            entity = self._catalog.entity_by_name_anywhere(ident)
        else:
            entity = self._catalog.entity_by_name(custom_object["id"], ident)
        if entity is None:
            raise FieldInvalid({key: does_not_exist(f"Object with {field}={ident} does not exist.")})
        return self._catalog.associated_entity_read(entity)

    @staticmethod
    def _reference(
        entry: dict[str, Any], nested_key: str, deprecated_key: str, errors: dict[str, Any]
    ) -> tuple[str, str, str] | None:
        """(error key, "id" or "name", value) for one reference, or None when it is absent."""
        try:
            nested = entry.get(nested_key)
            if nested is not None:
                ref = _mapping(nested)
                if ref.get("id") is not None:
                    return nested_key, "id", _uuid(ref["id"])
                if ref.get("name") is not None:
                    return nested_key, "name", _string(ref["name"], allow_blank=False)
                raise FieldInvalid({"non_field_errors": ['Either "id" or "name" must be provided.']})
            if entry.get(deprecated_key) is not None:
                return deprecated_key, "id", _uuid(entry[deprecated_key])
        except FieldInvalid as invalid:
            errors[nested_key if entry.get(nested_key) is not None else deprecated_key] = invalid.detail
        return None

    def _resolve(self, fields: dict[str, Any], *, creating: bool, requesting_user_id: str) -> dict[str, Any]:
        """Look up referenced records and turn the checked fields into read-shape fields."""
        catalog = self._catalog
        errors: dict[str, Any] = {}
        out: dict[str, Any] = {}
        if creating:
            activity_object_id = fields.get("activity_object_id")
            activity_object_name = fields.get("activity_object_name")
            if activity_object_id is None and activity_object_name is None:
                raise ValidationFailed(
                    {"non_field_errors": ["One of activity_object_id or activity_object_name is required."]}
                )
            if activity_object_id is not None:
                activity_type = catalog.activity_types.get(activity_object_id)
                if activity_type is None:
                    errors["activity_object_id"] = does_not_exist(
                        f'Invalid pk "{activity_object_id}" - object does not exist.'
                    )
            else:
                activity_type = catalog.activity_type_by_api_name(str(activity_object_name))
                if activity_type is None:
                    errors["activity_object_name"] = does_not_exist(
                        f"Object with api_name={activity_object_name} does not exist."
                    )
            if activity_type is not None:
                out["activity_object"] = Catalog.activity_type_read(activity_type)
        for key, table, read in (
            ("employee_id", catalog.employees, Catalog.employee_read),
            ("role_id", catalog.roles, Catalog.role_read),
        ):
            if key not in fields:
                continue
            ident = fields[key]
            if ident is None:
                out[key[:-3]] = None
            elif ident in table:
                out[key[:-3]] = read(table[ident])
            else:
                errors[key] = does_not_exist(f'Invalid pk "{ident}" - object does not exist.')
        if errors:
            raise ValidationFailed(errors)
        if "due_datetime" in fields:
            out["due_datetime"] = format_datetime(fields["due_datetime"])
        if fields.get("original_due_datetime") is not None:
            out["original_due_datetime"] = format_datetime(fields["original_due_datetime"])
        for key in ("note", "mentions", "notifications", "associated_entities", "notify_mentioned"):
            if key in fields:
                out[key] = fields[key]
        if fields.get("associated_entities", 0) is None:
            out["associated_entities"] = []
        if creating:
            out.setdefault("original_due_datetime", out["due_datetime"])
            self.fill_defaults(out, requesting_user_id)
        return out

    def fill_defaults(self, out: dict[str, Any], requesting_user_id: str) -> None:
        """Give the fields a write left out their create defaults (a create, or a replacing PUT).

        `original_due_datetime` is not among them: it keeps the first due time.
        """
        if "employee" not in out and "role" not in out:
            # An activity assigned to nobody lands on the API user, as in Kizen's UI.
            out["employee"] = Catalog.employee_read(self._catalog.employees[requesting_user_id])
        out.setdefault("employee", None)
        out.setdefault("role", None)
        out.setdefault("note", "")
        out.setdefault("mentions", [])
        out.setdefault("notifications", [])
        out.setdefault("associated_entities", [])
        out.setdefault("notify_mentioned", False)
