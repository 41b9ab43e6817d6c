"""Profiles: the emulator's choice wherever Kizen's behaviour is a guess, switchable as a whole.

Kizen documents neither what the list endpoint's `search`, `from_date` and `to_date` filters mean, nor
whether a failed request (500) rolled back, and its activity permissions hide activities assigned to
others from a scoped API user. A test that passes against one reading only proves that the client
agrees with our own guess, so each reading is a setting here and the provider is tested against each.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SearchScope = Literal["notes", "notes_and_types", "notes_and_records"]
DateField = Literal["due_datetime", "created"]
DateGranularity = Literal["instant", "day"]
UpperBound = Literal["inclusive", "exclusive"]
Visibility = Literal["everything", "own_and_role"]


class Profile(BaseModel):
    """How the emulator answers where Kizen's behaviour is not documented; the defaults are the original.

    :param search_scope: what `search` matches (case-insensitive substring): the note only; the note
        and the activity type's name and api_name; or the note and the associated records' names and
        emails.
    :param date_field: the field `from_date` / `to_date` compare.
    :param date_granularity: compare instants, or calendar days (UTC) of both sides.
    :param upper_bound: whether `to_date` itself is included.
    :param visibility: what the API user may see: everything, or only activities assigned to itself or
        to one of its roles (Kizen's activity permissions without "My/All" rights). Hidden activities
        are left out of lists and answer 404 on their detail routes; creating one still succeeds.
    :param commit_on_500: whether a request answered with an injected 500 was processed first; a fault
        rule's own `commit_on_500` overrides this.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    search_scope: SearchScope = "notes_and_records"
    date_field: DateField = "due_datetime"
    date_granularity: DateGranularity = "instant"
    upper_bound: UpperBound = "inclusive"
    visibility: Visibility = "everything"
    commit_on_500: bool = False

    def in_date_range(self, value: datetime, from_date: datetime | None, to_date: datetime | None) -> bool:
        """Whether `value` (the compared field) passes `from_date` / `to_date` under this profile."""
        if self.date_granularity == "day":
            value = _start_of_day(value)
            from_date = None if from_date is None else _start_of_day(from_date)
            to_date = None if to_date is None else _start_of_day(to_date)
        if from_date is not None and value < from_date:
            return False
        if to_date is None:
            return True
        return value <= to_date if self.upper_bound == "inclusive" else value < to_date

    def can_see(self, activity: dict[str, Any], user: dict[str, Any]) -> bool:
        """Whether `user` (a seed employee) may see `activity` (Kizen's read shape) under this profile."""
        if self.visibility == "everything":
            return True
        employee, role = activity.get("employee"), activity.get("role")
        return (employee is not None and employee["id"] == user["id"]) or (
            role is not None and role["id"] in user["role_ids"]
        )


def _start_of_day(value: datetime) -> datetime:
    return datetime.combine(value.date(), time(), value.tzinfo)


# Named profiles: one differing guess each, and one with every guess at its least helpful.
PROFILES: dict[str, Profile] = {
    "default": Profile(),
    "search-notes": Profile(search_scope="notes"),
    "search-notes-and-types": Profile(search_scope="notes_and_types"),
    "dates-calendar-day": Profile(date_granularity="day", upper_bound="exclusive"),
    "dates-exclusive-upper": Profile(upper_bound="exclusive"),
    "dates-created": Profile(date_field="created"),
    "visibility-own-and-role": Profile(visibility="own_and_role"),
    "commit-on-500": Profile(commit_on_500=True),
    "adversarial": Profile(
        search_scope="notes",
        date_granularity="day",
        upper_bound="exclusive",
        visibility="own_and_role",
        commit_on_500=True,
    ),
}


class ActiveProfile:
    """The profile in force, which the control plane may change; `reset()` restores the starting one."""

    def __init__(self, initial: Profile) -> None:
        self.initial = self.current = initial

    def reset(self) -> None:
        self.current = self.initial


def resolve_profile(profile: str | Profile | dict[str, Any] | None) -> Profile:
    """A profile from its name, its settings, or itself; None is the default."""
    if profile is None:
        return Profile()
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, str):
        try:
            return PROFILES[profile]
        except KeyError:
            raise ValueError(f"unknown emulator profile {profile!r}; known: {', '.join(PROFILES)}") from None
    return Profile.model_validate(profile)
