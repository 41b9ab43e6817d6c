"""Bringing one existing activity in step with its record: read it, compare, and PATCH only what differs.

Nothing is written when nothing differs, so a rerun over unchanged records costs one read each and no
write. A completed activity is history and is never written. An activity that is gone is reported,
never created again: the record's owner decides whether it should come back.

Reading before writing also makes this safe to repeat after a crash: a retried task compares again,
and a field an earlier try already changed is simply no longer different (the batch's ledger keeps
which fields that try changed, so the retry can still report the record as updated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_kizen.client.errors import (
    KizenError,
    KizenNotFoundError,
    KizenValidationError,
    not_visible_hint,
)
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity
from airflow_provider_kizen.operators.differences import activity_type_differs, changed_fields

if TYPE_CHECKING:
    from airflow_provider_kizen.client.pacing import Pace
    from airflow_provider_kizen.hooks.kizen import KizenHook

UpdateStatus = Literal["updated", "unchanged", "completed", "failed"]


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """A validated record that names its activity.

    :param changes: the fields the record sets, as an update body (``ScheduledActivityUpdate``'s JSON).
    :param activity_type: the ``activity_object_id`` / ``activity_object_name`` it names, if any; only
        checked, since the type can only be set on create.
    """

    activity_id: str
    changes: Mapping[str, Any]
    activity_type: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """What became of one record: with `plan_only`, "updated" means "would be updated"."""

    status: UpdateStatus
    activity: ScheduledActivity | None = None
    changed: tuple[str, ...] = ()
    error: str | None = None
    field_errors: dict[str, list[str]] | None = None

    @classmethod
    def failure(cls, error: KizenError, context: str) -> UpdateOutcome:
        return cls(
            "failed", error=f"{context}{type(error).__name__}: {error}", field_errors=error.field_errors
        )


def _gone(activity_id: str, error: KizenError) -> UpdateOutcome:
    return UpdateOutcome.failure(
        error,
        f"activity {activity_id} is gone from Kizen and was not re-created. "
        f"{not_visible_hint(activity_id)}: ",
    )


async def bring_in_step(
    hook: KizenHook, record: UpdateRecord, pace: Pace | None, *, plan_only: bool = False
) -> UpdateOutcome:
    """Read the record's activity and PATCH the fields that differ (none with `plan_only`)."""
    activity_id = record.activity_id
    try:
        activity = await hook.aget_scheduled_activity(activity_id, pace=pace)
    except KizenNotFoundError as exc:
        return _gone(activity_id, exc)
    except KizenError as exc:
        return UpdateOutcome.failure(exc, f"could not read activity {activity_id}: ")
    if activity.is_completed:
        return UpdateOutcome("completed", activity)
    current = activity.model_dump(mode="json")
    if activity_type_differs(record.activity_type, current):
        names = ", ".join(f"{name}={value}" for name, value in record.activity_type.items())
        return UpdateOutcome(
            "failed",
            activity,
            error=f"activity {activity_id} is of another activity type than the record's ({names}); the "
            "type can only be set on create: cancel the activity and create a new one",
            field_errors={name: ["Differs from the activity's type."] for name in record.activity_type},
        )
    changes = changed_fields(record.changes, current)
    if not changes:
        return UpdateOutcome("unchanged", activity)
    if plan_only:
        return UpdateOutcome("updated", activity, tuple(changes))
    try:
        updated = await hook.aupdate_scheduled_activity(activity_id, changes, pace=pace)
    except KizenNotFoundError as exc:
        return _gone(activity_id, exc)
    except KizenValidationError as exc:
        return await _after_refusal(hook, activity_id, exc, pace)
    except KizenError as exc:
        return UpdateOutcome.failure(exc, f"updating activity {activity_id} failed: ")
    return UpdateOutcome("updated", updated, tuple(changes))


async def _after_refusal(
    hook: KizenHook, activity_id: str, refusal: KizenValidationError, pace: Pace | None
) -> UpdateOutcome:
    """A 400 may mean the activity was completed between the read and the write: then leave it be."""
    try:
        activity = await hook.aget_scheduled_activity(activity_id, pace=pace)
    except KizenError:
        activity = None
    if activity is not None and activity.is_completed:
        return UpdateOutcome("completed", activity)
    return UpdateOutcome.failure(refusal, f"Kizen refused the update of activity {activity_id}: ")
