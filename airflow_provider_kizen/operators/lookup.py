"""Finding the activity an uncertain create may have made, and proving its absence before a re-send.

Kizen documents neither what the list's `search` covers, nor what `from_date` / `to_date` compare, nor
whether the API user can see every activity. So a lookup that finds nothing proves nothing by itself.
It counts as proof only when the same query finds a *control*: an activity this batch certainly created
(a 201 in hand, or an id an earlier try recorded) that shares whatever could hide the record from that
query: the assignee as written, the activity type, the due day, and for a query with `search` the
record's entity. Without such a control the query is widened step by step (`STEPS`), and the decision
is always made here with the natural key, never by the server's filters. When even the widest query
misses the control, the record is *unsettled*: its outcome stays unknown.
"""

from __future__ import annotations

import asyncio
from array import array
from bisect import bisect_right
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any, Literal

from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity
from airflow_provider_kizen.operators.reconciliation import Match, NaturalKey

# Wide queries can return a day's activities: fewer, larger pages cost fewer round trips.
LOOKUP_PAGE_SIZE = 1000
# A server that filters on `created` rather than the due time finds a create sent this long ago.
SENT_WINDOW_DAYS = 7

Window = Literal["instant", "due_days", "sent_days"]


@dataclass(frozen=True)
class Step:
    """One query of the widening sequence."""

    window: Window
    by_activity_name: bool
    by_search: bool
    label: str


STEPS = (
    Step("instant", by_activity_name=True, by_search=True, label="due time, activity type and search"),
    Step("instant", by_activity_name=True, by_search=False, label="due time and activity type"),
    Step("due_days", by_activity_name=True, by_search=True, label="due days, activity type and search"),
    Step("due_days", by_activity_name=True, by_search=False, label="the days around the due time and type"),
    Step("due_days", by_activity_name=False, by_search=False, label="the days around the due time"),
    Step("sent_days", by_activity_name=False, by_search=False, label="the days around the send"),
)


def _midnight(day: date) -> str:
    return datetime.combine(day, time(), UTC).isoformat()


def step_filters(key: NaturalKey, step: Step, today: date) -> dict[str, Any]:
    """The list filters of `step` for `key`; `search` goes out exactly as the user wrote the name."""
    filters: dict[str, Any] = {"page_size": LOOKUP_PAGE_SIZE}
    if step.window == "instant":
        filters["from_date"] = filters["to_date"] = key.due_datetime
    else:
        # Whole days on both sides: right whether the server compares instants or calendar days, in
        # UTC or in the business's time zone, with an inclusive or an exclusive upper bound.
        middle = key.due_day if step.window == "due_days" else today
        before = SENT_WINDOW_DAYS if step.window == "sent_days" else 1
        filters["from_date"] = _midnight(middle - timedelta(days=before))
        filters["to_date"] = _midnight(middle + timedelta(days=2))
    if step.by_activity_name and key.activity_type_name:
        filters["activity_name"] = key.activity_type_name
    if step.by_search and key.search_term:
        filters["search"] = key.search_term
    return filters


def lookups(key: NaturalKey, today: date) -> Iterator[tuple[Step, dict[str, Any]]]:
    """Each step with its filters, leaving out steps whose query would repeat an earlier one."""
    sent: list[dict[str, Any]] = []
    for step in STEPS:
        filters = step_filters(key, step, today)
        if filters not in sent:
            sent.append(filters)
            yield step, filters


def _group(key: NaturalKey) -> tuple[Any, ...]:
    """What a control must share with a record: assignee and type as written, and the due day."""
    return (key.activity_type_id, key.activity_type_name, key.employee_id, key.role_id, key.due_day)


def _entity_names(key: NaturalKey) -> tuple[str, ...]:
    """The record's entity names, casefolded as written."""
    return tuple(entity.entity_name.casefold() for entity in key.entities if entity.entity_name)


def _search_sites(term: str, note: str, entity_names: tuple[str, ...]) -> tuple[bool, bool]:
    return term in note, any(term in name for name in entity_names)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(instant: datetime) -> int:
    """An aware instant as a whole number, equal for equal instants."""
    return (instant - _EPOCH) // timedelta(microseconds=1)


class _ControlGroup:
    """The controls of one group, a column per field, in the order the batch learned of them.

    A batch makes a control of every record it creates; as objects, one cost about 0.5 KB, as much as
    the record's result, and 100,000 of them were the largest part of a batch's peak memory. Here one
    costs about 40 bytes and its note's UTF-8.
    """

    __slots__ = ("activity_ids", "due", "entity_names", "known_since", "note_ends", "notes")

    def __init__(self) -> None:
        self.activity_ids: list[str] = []
        self.due = array("q")  # the due instant, in microseconds since the epoch
        self.entity_names: list[tuple[str, ...]] = []  # equal tuples are one object (`Controls._names`)
        # time.monotonic() when the batch learned that it exists: it never decreases along the group.
        self.known_since = array("d")
        # The casefolded stored notes, UTF-8, one after the other; control i's ends at note_ends[i].
        # A UTF-8 needle only matches at character boundaries, so finding it in one note's bytes is
        # the same as finding the text in the note.
        self.notes = bytearray()
        self.note_ends = array("q")


class Controls:
    """Activities this batch certainly created, grouped by what could hide them from a query."""

    def __init__(self) -> None:
        self._groups: dict[tuple[Any, ...], _ControlGroup] = {}
        # Records often share their entities: each casefolded set of names is kept once.
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}

    def add(self, key: NaturalKey, activity_id: str) -> None:
        group_key = _group(key)
        group = self._groups.get(group_key)
        if group is None:
            group = self._groups[group_key] = _ControlGroup()
        names = _entity_names(key)
        group.activity_ids.append(activity_id)
        group.due.append(_microseconds(key.due_instant))
        group.entity_names.append(self._names.setdefault(names, names))
        group.known_since.append(monotonic())
        group.notes += key.note.casefold().encode("utf-8", "surrogatepass")
        group.note_ends.append(len(group.notes))

    def has_any(self, key: NaturalKey) -> bool:
        return _group(key) in self._groups

    def includes(self, activity_id: str) -> bool:
        """Whether the activity is a control; this goes through every group, so ask it rarely."""
        return any(activity_id in group.activity_ids for group in self._groups.values())

    def eligible(self, key: NaturalKey, step: Step, *, known_before: float) -> Iterator[str]:
        """Ids of controls the query of `step` for `key`, sent at `known_before`, had to find."""
        group = self._groups.get(_group(key))
        if group is None:
            return
        term = key.search_term.casefold() if step.by_search and key.search_term else None
        if term is not None:
            record_sites = _search_sites(term, key.note.casefold(), _entity_names(key))
            needle = term.encode("utf-8", "surrogatepass")
        due = _microseconds(key.due_instant)
        # Controls learned of after the query was sent come last, and are left out.
        for index in range(bisect_right(group.known_since, known_before)):
            if step.window == "instant" and group.due[index] != due:
                continue
            if term is not None:
                note_start = group.note_ends[index - 1] if index else 0
                sites = (
                    group.notes.find(needle, note_start, group.note_ends[index]) != -1,
                    any(term in name for name in group.entity_names[index]),
                )
                if sites != record_sites:
                    continue
            yield group.activity_ids[index]


class Claims:
    """Activity ids some record of this batch owns: no lookup hands one to another record.

    Most are controls (every activity the batch created or found), which are not stored a second time;
    a set of 100,000 ids cost 4 MB, and only a lookup's match asks. The others are the activities of
    earlier tries' records and those updates name.
    """

    def __init__(self, controls: Controls, others: Iterable[str] = ()) -> None:
        self._controls = controls
        self._others = set(others)

    def add(self, activity_id: str) -> None:
        self._others.add(activity_id)

    def __contains__(self, activity_id: object) -> bool:
        if activity_id in self._others:
            return True
        return isinstance(activity_id, str) and self._controls.includes(activity_id)


@dataclass(frozen=True, slots=True)
class Listing:
    """One lookup query's answer: when it was sent, every id in it, and what the natural key compares."""

    sent_at: float
    ids: frozenset[str]
    activities: tuple[tuple[ScheduledActivity, dict[str, Any]], ...]


Query = tuple[tuple[str, Any], ...]


class Listings:
    """Answers of the wide lookup queries, shared by records that need the same query.

    Records of one day often need the same wide query; reading the day once for all of them keeps
    reconciliation linear. An answer serves a record only when it was asked after the record's last
    send, so it cannot predate an activity that send made.
    """

    def __init__(self, hook: KizenHook, pace: Pace | None) -> None:
        self.hook, self.pace = hook, pace
        self._answers: dict[Query, Listing] = {}
        self._locks: dict[Query, asyncio.Lock] = {}

    async def get(self, filters: dict[str, Any], *, asked_after: float, shared: bool) -> Listing:
        if not shared:
            return await self._ask(filters)
        query = tuple(sorted(filters.items()))
        async with self._locks.setdefault(query, asyncio.Lock()):
            answer = self._answers.get(query)
            if answer is None or answer.sent_at < asked_after:
                answer = self._answers[query] = await self._ask(filters)
            return answer

    async def _ask(self, filters: dict[str, Any]) -> Listing:
        sent_at = monotonic()
        activities = [
            (activity, _compared_fields(activity))
            async for activity in self.hook.alist_scheduled_activities(pace=self.pace, **filters)
        ]
        return Listing(sent_at, frozenset(a.id for a, _ in activities), tuple(activities))


@dataclass(frozen=True)
class Verdict:
    """What a lookup established: `found`, proven `absent`, or neither (`unsettled`, with a reason)."""

    found: ScheduledActivity | None = None
    absent: bool = False
    reason: str = ""
    had_control: bool = True  # False: no control existed, so waiting for one may still settle it

    @property
    def unsettled(self) -> bool:
        return self.found is None and not self.absent


async def settle(
    listings: Listings,
    key: NaturalKey,
    *,
    claimed: Container[str],
    controls: Controls,
    today: date,
    last_sent_at: float,
    last_chance: bool,
) -> Verdict:
    """Look for the activity of `key` that no other record owns, widening until found or proven absent.

    While no control exists for the record and this is not its `last_chance`, only the narrow steps
    run: they may still find it, and the batch may make a control before it is looked at again.
    `last_sent_at` is when this try last sent the record (0 when it did not): older answers of a
    shared wide query cannot show what that send made.
    """
    had_control = controls.has_any(key)
    for step, filters in lookups(key, today):
        if not had_control and not last_chance and step.window != "instant":
            break
        alike: ScheduledActivity | None = None
        shared = step.window != "instant"
        listing = await listings.get(filters, asked_after=last_sent_at, shared=shared)
        if shared and not _has_control(listing, key, step, controls):
            # Controls the batch learned of after this answer was given may be in a fresh one.
            listing = await listings.get(filters, asked_after=monotonic(), shared=shared)
        for activity, fields in listing.activities:
            match = key.compare(fields)
            # Only a match is asked whether another record owns it: the answer may go through every control.
            if match is Match.OTHER or activity.id in claimed:
                continue
            if match is Match.SAME:
                return Verdict(found=activity)
            if match is Match.NOTE_DIFFERS and alike is None:
                alike = activity
        if alike is not None:
            return Verdict(
                reason=f"activity {alike.id} matches it in everything but the note (Kizen may have "
                "rewritten the note, or someone made a similar activity)"
            )
        if _has_control(listing, key, step, controls):
            return Verdict(absent=True)
    if not had_control:
        return Verdict(
            reason="no activity this batch created shares its assignee, activity type and due day, so "
            "a lookup that finds nothing proves nothing",
            had_control=False,
        )
    return Verdict(
        reason="even the widest lookup missed activities this batch created for the same assignee, "
        "activity type and due day; the API user probably cannot see activities assigned to "
        f"{_assignee(key)} (Kizen's activity permissions)"
    )


def _has_control(listing: Listing, key: NaturalKey, step: Step, controls: Controls) -> bool:
    eligible = controls.eligible(key, step, known_before=listing.sent_at)
    return any(control in listing.ids for control in eligible)


def _compared_fields(activity: ScheduledActivity) -> dict[str, Any]:
    """What the natural key compares, without dumping the whole activity (lookups read thousands)."""
    return {
        "activity_object": activity.activity_object,
        "due_datetime": activity.due_datetime,
        "employee": activity.employee,
        "role": activity.role,
        "associated_entities": activity.associated_entities,
        "note": activity.note,
    }


def _assignee(key: NaturalKey) -> str:
    if key.employee_id:
        return f"employee {key.employee_id}"
    if key.role_id:
        return f"role {key.role_id}"
    return "the API user"
