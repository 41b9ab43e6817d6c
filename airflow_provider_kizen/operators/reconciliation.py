"""Reconciliation: record keys, and finding the activity an uncertain create may already have made.

A *record key* names one input record across attempts and task retries: the value of the user's
``dedupe_key`` field, or else a hash of the record's canonical JSON.

The *natural key* of a scheduled activity is what the operator compares when it must decide whether
an activity already exists for a record: the activity type, ``due_datetime`` (as an instant), the
associated entities, and the note. Kizen has no idempotency key, so this is the only way to tell
whether a POST whose response was lost created anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity

# Kizen's `search` filter is a substring match; a note's first characters narrow the list enough
# without putting a long note in a URL.
SEARCH_PREFIX_CHARS = 100


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal data always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hash_record_key(data: Mapping[str, Any]) -> str:
    """The default record key: the first 32 hex digits (128 bits) of the SHA-256 of the canonical JSON."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:32]


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


def _fold(value: Any) -> str | None:
    return value.strip().casefold() if isinstance(value, str) and value.strip() else None


def _ref(node: Any, legacy_id: Any) -> tuple[str | None, str | None]:
    """(id, name) of a write-side reference, nested (`{"id"|"name"}`) or deprecated (`..._id`)."""
    if isinstance(node, Mapping):
        return (str(node["id"]) if node.get("id") else None, _fold(node.get("name")))
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
        if self.object_name and self.object_name not in object_names:
            return False
        entity = read.get("entity")
        if self.entity_id and self.entity_id != _read_id(entity, read.get("entity_id")):
            return False
        entity_names = _read_names(entity, "name", "email", "display_name") | _read_names(
            read, "name", "display_name"
        )
        return not (self.entity_name and self.entity_name not in entity_names)


@dataclass(frozen=True)
class NaturalKey:
    """Activity type, due instant, associated entities and note of one write payload."""

    activity_type_id: str | None
    activity_type_name: str | None
    due_datetime: str
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
            entities=tuple(EntityKey.from_write(item) for item in data.get("associated_entities") or ()),
            note=data.get("note") or "",
        )

    def list_filters(self) -> dict[str, str]:
        """List endpoint filters that narrow the candidates; `matches` makes the exact decision."""
        filters = {"from_date": self.due_datetime, "to_date": self.due_datetime}
        if self.activity_type_name:
            filters["activity_name"] = self.activity_type_name
        search = next((entity.entity_name for entity in self.entities if entity.entity_name), None)
        if search is None and self.note.strip():
            search = self.note.strip()[:SEARCH_PREFIX_CHARS]
        if search:
            filters["search"] = search
        return filters

    def matches(self, activity: Mapping[str, Any]) -> bool:
        """Whether an activity in Kizen's read shape has this natural key."""
        activity_type = activity.get("activity_object")
        if self.activity_type_id and self.activity_type_id != _read_id(activity_type, None):
            return False
        if self.activity_type_name:
            names = _read_names(activity_type, "api_name", "name")
            if self.activity_type_name.casefold() not in names:
                return False
        due, wanted_due = instant(activity.get("due_datetime")), instant(self.due_datetime)
        if due is None or wanted_due is None or due != wanted_due:
            return False
        if (activity.get("note") or "") != self.note:
            return False
        return same_entities(self.entities, activity.get("associated_entities") or [])


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


async def find_existing_activity(
    hook: KizenHook, natural_key: NaturalKey, *, claimed: Container[str]
) -> ScheduledActivity | None:
    """The activity with this natural key that no other record of the batch has claimed, if any."""
    async for activity in hook.alist_scheduled_activities(**natural_key.list_filters()):
        if activity.id not in claimed and natural_key.matches(activity.model_dump(mode="json")):
            return activity
    return None
