"""Reconciliation: record keys, and the natural key that recognises what an uncertain create made.

A *record key* names one input record across attempts and task retries: the value of the user's
``dedupe_key`` field, or else a hash of the record's canonical JSON.

The *natural key* of a scheduled activity is what the operator compares when it must decide whether
an activity already exists for a record: the activity type, ``due_datetime`` (as an instant), the
assignee as written, the associated entities, and the note. Kizen has no idempotency key, so this is
the only way to tell whether a POST whose response was lost created anything. Text is compared the way
Kizen stores it: trimmed (Django REST framework's default) and with runs of whitespace taken as one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal data always gives the same text."""
    try:
        return _dumps(data)
    except TypeError:  # keys of mixed types cannot be sorted: only an invalid record has them
        return _dumps(_text_keys(data))


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _text_keys(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {str(key): _text_keys(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_text_keys(item) for item in data]
    return data


def hash_record_key(data: Mapping[str, Any]) -> str:
    """The default record key: the first 32 hex digits (128 bits) of the SHA-256 of the canonical JSON.

    Lone surrogates are hashed as they are (``surrogatepass``), so that an invalid record still gets a key.
    """
    return hashlib.sha256(canonical_json(data).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def user_record_key(value: Any) -> str | None:
    """A user's dedupe key value as text, or None when it is missing or empty."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def instant(value: Any) -> datetime | None:
    """A datetime, or ISO text parsed into one; None for anything else."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def stored_text(value: Any) -> str:
    """Text as Kizen keeps it, for comparing: trimmed, each run of whitespace as one space."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def _fold(value: Any) -> str | None:
    return text.casefold() if (text := stored_text(value)) else None


def _ref(node: Any, legacy_id: Any) -> tuple[str | None, str | None]:
    """(id, name as written, trimmed) of a write-side reference, nested or deprecated (`..._id`)."""
    if isinstance(node, Mapping):
        return (str(node["id"]) if node.get("id") else None, stored_text(node.get("name")) or None)
    return (str(legacy_id) if legacy_id else None, None)


def _read_names(node: Any, *fields: str) -> set[str]:
    if not isinstance(node, Mapping):
        return set()
    return {folded for field in fields if (folded := _fold(node.get(field)))}


def _read_id(node: Any, legacy_id: Any) -> str | None:
    if isinstance(node, Mapping) and node.get("id"):
        return str(node["id"])
    return str(legacy_id) if legacy_id else None


@dataclass(frozen=True)
class EntityKey:
    """One associated entity of a natural key, named as the write payload names it: by id or by name.

    (Not the write model's `EntityRef`: this is the part of a natural key that matches a read entity.)
    """

    object_id: str | None
    object_name: str | None
    entity_id: str | None
    entity_name: str | None

    @classmethod
    def from_write(cls, data: Mapping[str, Any]) -> EntityKey:
        object_id, object_name = _ref(data.get("custom_object"), data.get("custom_object_id"))
        entity_id, entity_name = _ref(data.get("entity"), data.get("entity_id"))
        return cls(object_id, object_name, entity_id, entity_name)

    def matches(self, read: Mapping[str, Any]) -> bool:
        """Whether an associated entity in Kizen's read shape is this one."""
        custom_object = read.get("custom_object")
        if self.object_id and self.object_id != _read_id(custom_object, read.get("custom_object_id")):
            return False
        object_names = _read_names(custom_object, "name", "object_name") | _read_names(
            read, "object_name", "object_api_name"
        )
        if self.object_name and _fold(self.object_name) not in object_names:
            return False
        entity = read.get("entity")
        if self.entity_id and self.entity_id != _read_id(entity, read.get("entity_id")):
            return False
        entity_names = _read_names(entity, "name", "email", "display_name") | _read_names(
            read, "name", "display_name"
        )
        return not (self.entity_name and _fold(self.entity_name) not in entity_names)


class Match(Enum):
    """How an activity compares with a record's natural key."""

    SAME = "same"
    NOTE_DIFFERS = "note differs"  # everything else agrees: Kizen may have rewritten the note
    OTHER = "other"


@dataclass(frozen=True)
class NaturalKey:
    """Activity type, due instant, assignee, associated entities and note of one write payload."""

    activity_type_id: str | None
    activity_type_name: str | None
    due_datetime: str
    employee_id: str | None
    role_id: str | None
    entities: tuple[EntityKey, ...]
    note: str

    @classmethod
    def from_request_json(cls, data: Mapping[str, Any]) -> NaturalKey:
        """The natural key of a validated write payload (``ScheduledActivityWrite.to_request_json()``)."""
        type_id = data.get("activity_object_id")
        return cls(
            activity_type_id=str(type_id) if type_id else None,
            activity_type_name=data.get("activity_object_name") or None,
            due_datetime=str(data["due_datetime"]),
            employee_id=str(data["employee_id"]) if data.get("employee_id") else None,
            role_id=str(data["role_id"]) if data.get("role_id") else None,
            entities=tuple(EntityKey.from_write(item) for item in data.get("associated_entities") or ()),
            note=stored_text(data.get("note")),
        )

    @property
    def due_instant(self) -> datetime:
        due = instant(self.due_datetime)
        if due is None:  # the write model only lets valid, aware datetimes through
            raise ValueError(f"due_datetime {self.due_datetime!r} is not an ISO datetime")
        return due

    @property
    def due_day(self) -> date:
        return self.due_instant.astimezone(UTC).date()

    @property
    def search_term(self) -> str | None:
        """What `search` is given: the first entity's name exactly as written (Kizen matches it, not us)."""
        return next((entity.entity_name for entity in self.entities if entity.entity_name), None)

    @property
    def alike_key(self) -> tuple[Any, ...]:
        """Everything but the note: records alike in this could adopt each other's activity."""
        return (
            self.activity_type_id,
            self.activity_type_name,
            self.due_instant,
            self.employee_id,
            self.role_id,
            frozenset(self.entities),
        )

    def compare(self, activity: Mapping[str, Any]) -> Match:
        """How an activity in Kizen's read shape compares with this natural key."""
        activity_type = activity.get("activity_object")
        if self.activity_type_id and self.activity_type_id != _read_id(activity_type, None):
            return Match.OTHER
        if self.activity_type_name:
            names = _read_names(activity_type, "api_name", "name")
            if _fold(self.activity_type_name) not in names:
                return Match.OTHER
        due = instant(activity.get("due_datetime"))
        if due is None or due != self.due_instant:
            return Match.OTHER
        if self.employee_id and self.employee_id != _read_id(activity.get("employee"), None):
            return Match.OTHER
        if self.role_id and self.role_id != _read_id(activity.get("role"), None):
            return Match.OTHER
        if not same_entities(self.entities, activity.get("associated_entities") or []):
            return Match.OTHER
        return Match.SAME if stored_text(activity.get("note")) == self.note else Match.NOTE_DIFFERS

    def matches(self, activity: Mapping[str, Any]) -> bool:
        """Whether an activity in Kizen's read shape has this natural key."""
        return self.compare(activity) is Match.SAME


def same_entities(wanted: tuple[EntityKey, ...], found: list[Any]) -> bool:
    """A one-to-one match between the payload's entities and the activity's, in any order."""
    if len(wanted) != len(found):
        return False
    unmatched = [entity for entity in found if isinstance(entity, Mapping)]
    for ref in wanted:
        hit = next((entity for entity in unmatched if ref.matches(entity)), None)
        if hit is None:
            return False
        unmatched.remove(hit)
    return True
