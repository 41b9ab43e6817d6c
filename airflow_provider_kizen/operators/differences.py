"""Which fields of a record differ from its activity in Kizen, compared by meaning rather than by text.

A record names its activity's fields the way a write does (``employee_id``, entities by name or id,
due times with any offset); Kizen answers in its read shape (``employee`` objects, entities with ids,
names and emails, due times in UTC). Comparing the two texts would find a difference in every record
and rewrite every activity on every run, so each field is compared for what it means:

- due times as instants (``09:00+01:00`` is ``08:00Z``);
- the note without surrounding whitespace, which Kizen trims;
- employee and role by id, a null meaning "nobody";
- mentions as a set of employee ids;
- notifications as a multiset of (type, amount, unit), in any order;
- associated entities one to one, in any order, each by id or by name (a contact's email);
- ``notify_mentioned`` as a boolean.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_kizen.operators.reconciliation import EntityKey, instant, same_entities

# The activity type: set on create only, so a record may name it but an update cannot change it.
ACTIVITY_TYPE_FIELDS = ("activity_object_id", "activity_object_name")


def _id_of(node: Any) -> str | None:
    """The id of a read-side reference (an object with an id, or the id itself)."""
    if isinstance(node, Mapping):
        node = node.get("id")
    return str(node).lower() if node else None


def _same_instant(wanted: Any, have: Any) -> bool:
    wanted_instant, have_instant = instant(wanted), instant(have)
    return wanted_instant is not None and wanted_instant == have_instant


def _same_note(wanted: Any, have: Any) -> bool:
    return (wanted or "").strip() == (have or "").strip()


def _same_reference(wanted: Any, have: Any) -> bool:
    return _id_of(wanted) == _id_of(have)


def _same_mentions(wanted: Any, have: Any) -> bool:
    return {_id_of(item) for item in wanted or ()} == {_id_of(item) for item in have or ()}


def _notification(item: Any) -> tuple[str, int, str] | None:
    if not isinstance(item, Mapping):
        return None
    try:
        return (str(item["type"]), int(item["time_amount"]), str(item["time_unit"]))
    except (KeyError, TypeError, ValueError):
        return None


def _same_notifications(wanted: Any, have: Any) -> bool:
    have_list = have if isinstance(have, list) else []
    return Counter(map(_notification, wanted or ())) == Counter(map(_notification, have_list))


def _same_entities(wanted: Any, have: Any) -> bool:
    refs = tuple(EntityKey.from_write(item) for item in wanted or ())
    return same_entities(refs, have if isinstance(have, list) else [])


def _same_flag(wanted: Any, have: Any) -> bool:
    return bool(wanted) == bool(have)


# For each field a record may set: where Kizen's read shape keeps it, and how the two compare.
_COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "due_datetime": ("due_datetime", _same_instant),
    "original_due_datetime": ("original_due_datetime", _same_instant),
    "employee_id": ("employee", _same_reference),
    "role_id": ("role", _same_reference),
    "note": ("note", _same_note),
    "mentions": ("mentions", _same_mentions),
    "notifications": ("notifications", _same_notifications),
    "associated_entities": ("associated_entities", _same_entities),
    "notify_mentioned": ("notify_mentioned", _same_flag),
}


def changed_fields(wanted: Mapping[str, Any], activity: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `wanted` (an update body) whose meaning differs from `activity` (Kizen's read shape).

    The values are those of `wanted`, ready to be sent as the PATCH body.
    """
    changed = {}
    for name, value in wanted.items():
        read_name, same = _COMPARISONS[name]
        if not same(value, activity.get(read_name)):
            changed[name] = value
    return changed


def activity_type_differs(wanted: Mapping[str, Any], activity: Mapping[str, Any]) -> bool:
    """Whether the record names an activity type other than the activity's (by id or api_name)."""
    activity_type = activity.get("activity_object")
    wanted_id = wanted.get("activity_object_id")
    if wanted_id is not None:
        return _id_of(wanted_id) != _id_of(activity_type)
    wanted_name = wanted.get("activity_object_name")
    if wanted_name is None:
        return False
    names = (
        {str(activity_type.get(key) or "").casefold() for key in ("api_name", "name")}
        if isinstance(activity_type, Mapping)
        else {str(activity_type or "").casefold()}
    )
    return str(wanted_name).casefold() not in names
