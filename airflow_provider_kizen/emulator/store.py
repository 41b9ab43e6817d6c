"""The emulator's data: scheduled and logged activities, in memory and optionally written through to SQLite.

Only the server's event loop touches the store, so it needs no locks. Completion "after a delay" is
stored as a due time and applied lazily whenever activities are read, so it needs no timers and
survives a restart with a state file.
"""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_provider_kizen.emulator.profiles import Profile, SearchScope
from airflow_provider_kizen.emulator.sqlite_state import SqliteState
from airflow_provider_kizen.emulator.validation import format_datetime

ORDERINGS: dict[str, tuple[str, bool]] = {
    "due_datetime": ("due", False),
    "-due_datetime": ("due", True),
    "created": ("seq", False),
    "-created": ("seq", True),
}


@dataclass(slots=True)
class StoredActivity:
    data: dict[str, Any]  # exactly what Kizen would answer
    seq: int  # creation order
    due: datetime
    complete_at: float | None = None  # epoch seconds at which a pending completion applies
    search_texts: dict[str, str] | None = None  # what `search` matches, per scope, built on first use

    def matches_search(self, needle: str, scope: SearchScope) -> bool:
        """Case-insensitive substring match on the fields the profile's `search_scope` covers."""
        if self.search_texts is None:
            self.search_texts = {}
        text = self.search_texts.get(scope)
        if text is None:
            parts = [self.data["note"]]
            if scope == "notes_and_types":
                parts += (self.data["activity_object"]["name"], self.data["activity_object"]["api_name"])
            elif scope == "notes_and_records":
                for associated in self.data["associated_entities"]:
                    entity = associated["entity"]
                    parts += (entity["name"], entity["email"], associated["display_name"])
            text = self.search_texts[scope] = "\n".join(parts).lower()
        return needle in text

    def date_for(self, profile: Profile) -> datetime:
        """The value `from_date` / `to_date` compare under `profile`."""
        if profile.date_field == "created":
            return datetime.fromisoformat(self.data["created"])
        return self.due


@dataclass(frozen=True, slots=True)
class ActivityFilters:
    """The list endpoint's filters, already parsed."""

    from_date: datetime | None = None
    to_date: datetime | None = None
    search: str | None = None
    activity_name: str | None = None
    employee_ids: frozenset[str] | None = None
    role_ids: frozenset[str] | None = None
    completed: bool | None = None
    assigned_to: str | None = None
    ordering: str = "due_datetime"


def _now() -> datetime:
    return datetime.now(UTC)


class ActivityStore:
    """Scheduled activities, logged activities and the auto-complete setting."""

    def __init__(self, *, state_file: str | Path | None = None, seed: int | None = None) -> None:
        self._random = random.Random(seed) if seed is not None else None
        self._sqlite = SqliteState(state_file) if state_file is not None else None
        self.activities: dict[str, StoredActivity] = {}
        self.logged: dict[str, dict[str, Any]] = {}
        self.auto_complete_after: float | None = None
        self._pending: list[tuple[float, int, str]] = []  # heap of (complete_at, seq, id)
        self._seq = 0
        if self._sqlite is not None:
            self._load(self._sqlite)

    def _load(self, sqlite: SqliteState) -> None:
        for seq, data, complete_at in sqlite.scheduled_activities():
            self._remember(
                StoredActivity(data, seq, datetime.fromisoformat(data["due_datetime"]), complete_at)
            )
            self._seq = max(self._seq, seq)
        self.logged = {data["id"]: data for data in sqlite.logged_activities()}
        self.auto_complete_after = sqlite.setting("auto_complete_after")

    def _remember(self, stored: StoredActivity) -> None:
        self.activities[stored.data["id"]] = stored
        if stored.complete_at is not None and stored.data["completed_at"] is None:
            heapq.heappush(self._pending, (stored.complete_at, stored.seq, stored.data["id"]))

    def _save(self, stored: StoredActivity) -> None:
        if self._sqlite is not None:
            self._sqlite.save_scheduled_activity(stored.seq, stored.data, stored.complete_at)

    def new_id(self) -> str:
        """A random UUID; reproducible when the store was given a seed."""
        if self._random is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def reset(self) -> None:
        self.activities.clear()
        self.logged.clear()
        self._pending.clear()
        self.auto_complete_after = None
        if self._sqlite is not None:
            self._sqlite.clear()

    def set_auto_complete(self, after_seconds: float | None) -> None:
        self.auto_complete_after = after_seconds
        if self._sqlite is not None:
            self._sqlite.save_setting("auto_complete_after", after_seconds)

    # Scheduled activities

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        self._seq += 1
        data = {
            "id": self.new_id(),
            **fields,
            "completed_at": None,
            "logged_activity_id": None,
            "associated_fields": [],
            "created": format_datetime(_now()),
            "access": {"view": True, "edit": True, "remove": True},
        }
        stored = StoredActivity(data, self._seq, datetime.fromisoformat(data["due_datetime"]))
        if self.auto_complete_after is not None:
            stored.complete_at = time.time() + self.auto_complete_after
        self._remember(stored)
        self._save(stored)
        return data

    def get(self, activity_id: str) -> dict[str, Any] | None:
        self.apply_due_completions()
        stored = self.activities.get(activity_id)
        return None if stored is None else stored.data

    def update(self, activity_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        self.apply_due_completions()
        stored = self.activities.get(activity_id)
        if stored is None:
            return None
        stored.data.update(fields)
        stored.search_texts = None
        if "due_datetime" in fields:
            stored.due = datetime.fromisoformat(fields["due_datetime"])
        self._save(stored)
        return stored.data

    def delete(self, activity_id: str) -> bool:
        if self.activities.pop(activity_id, None) is None:
            return False
        if self._sqlite is not None:
            self._sqlite.delete_scheduled_activity(activity_id)
        return True

    def all(self) -> list[dict[str, Any]]:
        self.apply_due_completions()
        return [stored.data for stored in sorted(self.activities.values(), key=lambda s: s.seq)]

    def query(self, filters: ActivityFilters, profile: Profile, user: dict[str, Any]) -> list[dict[str, Any]]:
        """The activities `user` may see that pass `filters`, read the way `profile` says."""
        self.apply_due_completions()
        matches: Iterable[StoredActivity] = self.activities.values()
        if profile.visibility != "everything":
            matches = [s for s in matches if profile.can_see(s.data, user)]
        if filters.from_date is not None or filters.to_date is not None:
            from_date, to_date = filters.from_date, filters.to_date
            matches = [s for s in matches if profile.in_date_range(s.date_for(profile), from_date, to_date)]
        if filters.activity_name is not None:
            name = filters.activity_name
            matches = [
                s
                for s in matches
                if name in (s.data["activity_object"]["api_name"], s.data["activity_object"]["name"])
            ]
        if filters.employee_ids is not None:
            ids = filters.employee_ids
            matches = [
                s for s in matches if s.data["employee"] is not None and s.data["employee"]["id"] in ids
            ]
        if filters.role_ids is not None:
            ids = filters.role_ids
            matches = [s for s in matches if s.data["role"] is not None and s.data["role"]["id"] in ids]
        if filters.assigned_to is not None:
            me = filters.assigned_to
            matches = [
                s for s in matches if s.data["employee"] is not None and s.data["employee"]["id"] == me
            ]
        if filters.completed is not None:
            done = filters.completed
            matches = [s for s in matches if (s.data["completed_at"] is not None) is done]
        if filters.search:
            needle = filters.search.lower()
            matches = [s for s in matches if s.matches_search(needle, profile.search_scope)]
        attribute, descending = ORDERINGS[filters.ordering]
        ordered = sorted(matches, key=lambda s: (getattr(s, attribute), s.seq), reverse=descending)
        return [s.data for s in ordered]

    # Completion

    def complete(self, activity_id: str, *, after_seconds: float = 0) -> bool:
        """Log the activity now or later (a completed one stays as it is); False when it does not exist."""
        self.apply_due_completions()
        stored = self.activities.get(activity_id)
        if stored is None:
            return False
        if stored.data["completed_at"] is not None:
            return True
        if after_seconds <= 0:
            self._log_scheduled(stored, completed_at=_now(), notes="", related_objects=[], employee=None)
        else:
            stored.complete_at = time.time() + after_seconds
            heapq.heappush(self._pending, (stored.complete_at, stored.seq, activity_id))
            self._save(stored)
        return True

    def apply_due_completions(self) -> None:
        now = time.time()
        while self._pending and self._pending[0][0] <= now:
            complete_at, _, activity_id = heapq.heappop(self._pending)
            stored = self.activities.get(activity_id)
            if (
                stored is not None
                and stored.data["completed_at"] is None
                and stored.complete_at == complete_at
            ):
                completed_at = datetime.fromtimestamp(complete_at, UTC)
                self._log_scheduled(
                    stored, completed_at=completed_at, notes="", related_objects=[], employee=None
                )

    def log_activity(
        self,
        activity_object: dict[str, Any],
        *,
        scheduled_activity_id: str | None,
        notes: str,
        related_objects: list[Any],
        employee: dict[str, Any],
    ) -> dict[str, Any]:
        """POST …/log-activity: a logged activity, completing the scheduled one when it is named."""
        self.apply_due_completions()
        if scheduled_activity_id is None:
            return self._new_logged(activity_object, None, _now(), notes, related_objects, employee)
        stored = self.activities[scheduled_activity_id]
        return self._log_scheduled(
            stored, completed_at=_now(), notes=notes, related_objects=related_objects, employee=employee
        )

    def _log_scheduled(
        self,
        stored: StoredActivity,
        *,
        completed_at: datetime,
        notes: str,
        related_objects: list[Any],
        employee: dict[str, Any] | None,
    ) -> dict[str, Any]:
        data = stored.data
        logged = self._new_logged(
            data["activity_object"],
            data["id"],
            completed_at,
            notes,
            related_objects,
            employee if employee is not None else data["employee"],
        )
        data["completed_at"] = logged["created"]
        data["logged_activity_id"] = logged["id"]
        stored.complete_at = None
        self._save(stored)
        return logged

    def _new_logged(
        self,
        activity_object: dict[str, Any],
        scheduled_activity_id: str | None,
        created: datetime,
        notes: str,
        related_objects: list[Any],
        employee: dict[str, Any] | None,
    ) -> dict[str, Any]:
        logged: dict[str, Any] = {
            "id": self.new_id(),
            "activity_object": activity_object,
            "scheduled_activity_id": scheduled_activity_id,
            "notes": notes,
            "related_objects": related_objects,
            "employee": employee,
            "created": format_datetime(created),
        }
        self.logged[logged["id"]] = logged
        if self._sqlite is not None:
            self._sqlite.save_logged_activity(logged)
        return logged

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
