"""Which watched scheduled activities are completed, told from list pages instead of one read per id.

Kizen does not document what its list filters mean: which field ``from_date``/``to_date`` compare,
at what granularity, with which bounds (see docs/sensor.md). So a sweep never lets a filter decide
anything. It marks each watched activity from what a page shows of it, and an id counts as accounted
for in a cycle only when a page, or a read of the id itself, showed it in that cycle. An id that no
page showed is read directly, a few ids per cycle and each at most every few cycles: a filter that
Kizen reads differently costs extra pages and later news, never a missed completion, and never one
request per id per cycle.

A cycle asks, in this order, and only while some pending id is still unaccounted for:

1. on the first cycle only, every activity, newest first: this finds the watched ones and learns
   their due and creation times;
2. the pending activities (``completed=false``) within a date window that covers every pending id's
   due time and creation time, a day wider on each side;
3. the completed activities (``completed=true``) within the same window;
4. direct reads of the ids still unaccounted for.

`CompletionSweep` only plans and keeps count; `sweep_once` and `asweep_once` send its requests
through the sync and the async hook.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_kizen.client.errors import KizenError
from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import (
    ActivityStatus,
    ScheduledActivity,
    ScheduledActivityStatus,
    is_completed,
)

PAGE_SIZE = 1000  # Kizen's largest page
# A listing stops this many pages after the pages its own unaccounted ids could fill, so a filter that
# Kizen ignores costs a bounded number of pages per cycle.
EXTRA_PAGES = 5
# Wide enough for a date filter read as calendar days (in any timezone) or with an exclusive bound.
WINDOW_MARGIN = timedelta(days=1)
# Ids no page accounts for are read directly, this many per cycle, each at most every so many cycles.
DIRECT_READS_PER_CYCLE = 20
DIRECT_READ_EVERY_CYCLES = 10
# The async sweep takes a page in this many activities per turn of the event loop: a whole page of
# 1,000 took up to 10 ms, on top of the up to 8 ms its validation had just taken.
PAGE_SLICE = 250


@dataclass(frozen=True)
class Listing:
    """List scheduled activities with these filters, for at most `max_pages` pages."""

    filters: dict[str, Any]
    max_pages: int


@dataclass(frozen=True)
class DirectReads:
    """Read each of these activities by id."""

    activity_ids: list[str]


class CycleCutShort(Exception):
    """Kizen answered a cycle's request with an error (after the hook's retries); the cycle ends there.

    `activity_id` names the activity whose read failed, or is None when a listing failed.
    """

    def __init__(self, error: KizenError, activity_id: str | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.activity_id = activity_id


class CompletionSweep:
    """What is known about the watched ids, and the requests each cycle sends to learn more.

    :param activity_ids: the ids to watch, in the order results are given.
    :param keep_activities: also keep each completed activity whole (Kizen's read object).
    """

    def __init__(self, activity_ids: Sequence[str], *, keep_activities: bool = False) -> None:
        self.activity_ids = list(activity_ids)
        self.keep_activities = keep_activities
        self.cycles = 0
        self._pending = set(self.activity_ids)
        # Plain tuples and strings, not dicts: thousands of them kept through a long wait stay out of
        # the cyclic garbage collector's way (see docs/performance.md).
        self._completed: dict[str, tuple[str | None, str | None]] = {}
        self._activities: dict[str, str] = {}  # id -> the whole activity as JSON text
        self._span: dict[str, tuple[float, float]] = {}  # pending id -> earliest, latest of due/created
        self._seen: set[str] = set()
        self._next_direct_read: dict[str, int] = {}

    # -- what is known -------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return not self._pending

    def pending_ids(self) -> list[str]:
        return [activity_id for activity_id in self.activity_ids if activity_id in self._pending]

    def completed_ids(self) -> list[str]:
        return [activity_id for activity_id in self.activity_ids if activity_id in self._completed]

    def completed_records(self) -> list[dict[str, str | None]]:
        """``{id, completed_at, logged_activity_id}`` of each completed activity, in watch order."""
        records = []
        for activity_id in self.completed_ids():
            completed_at, logged_activity_id = self._completed[activity_id]
            records.append(
                {"id": activity_id, "completed_at": completed_at, "logged_activity_id": logged_activity_id}
            )
        return records

    def completed_activities(self, activity_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The kept whole activities of these completed ids (needs ``keep_activities``)."""
        return [json.loads(self._activities[activity_id]) for activity_id in activity_ids]

    # -- one cycle -----------------------------------------------------------------------------------

    def cycle(self) -> Iterator[Listing | DirectReads]:
        """The requests of one cycle. Each is planned only once the answers to the earlier ones are in."""
        self.cycles += 1
        self._seen = set()
        if self.cycles == 1:
            yield self._listing(ordering="-created")
        window = self._window()
        if window is not None:
            for completed in (False, True):
                if self._unaccounted():
                    yield self._listing(completed=completed, from_date=window[0], to_date=window[1])
        reads = self._due_for_direct_read()
        if reads:
            yield DirectReads(reads)

    @property
    def item_model(self) -> type[ScheduledActivity] | type[ActivityStatus]:
        """What a page's activities are decoded as: whole only when they are kept whole."""
        return ScheduledActivity if self.keep_activities else ActivityStatus

    def see_page(
        self, listing: Listing, page: Sequence[ScheduledActivityStatus | ActivityStatus], pages_read: int
    ) -> bool:
        """Take in one page of `listing`; True when its next page is worth asking for."""
        self.see_all(page)
        return self.wants_next_page(listing, pages_read)

    def see_all(self, activities: Sequence[ScheduledActivityStatus | ActivityStatus]) -> None:
        """Take in the watched activities among those a page shows (all of it, or a slice)."""
        for activity in activities:
            if (activity["id"] if isinstance(activity, dict) else activity.id) in self._pending:
                self.see(activity)

    def wants_next_page(self, listing: Listing, pages_read: int) -> bool:
        """Whether the page after the `pages_read`-th of `listing` is worth asking for."""
        return pages_read < listing.max_pages and bool(self._unaccounted())

    def see(self, activity: ScheduledActivityStatus | ActivityStatus) -> None:
        """Take in what Kizen shows of one watched activity: its status from a page, or the whole
        activity (a direct read, or a page when activities are kept whole)."""
        status = activity if isinstance(activity, dict) else activity.status()
        activity_id = status["id"]
        self._seen.add(activity_id)
        if activity_id not in self._pending:
            return
        if is_completed(status):
            self._pending.discard(activity_id)
            self._span.pop(activity_id, None)
            completed_at = status.get("completed_at")
            self._completed[activity_id] = (
                None if completed_at is None else completed_at.isoformat().replace("+00:00", "Z"),
                status.get("logged_activity_id"),
            )
            if self.keep_activities:
                assert not isinstance(activity, dict), "pages are read whole when activities are kept"
                self._activities[activity_id] = activity.model_dump_json()
            return
        moments = (status.get("due_datetime"), status.get("created"))
        times = [moment.timestamp() for moment in moments if moment]
        if times:
            self._span[activity_id] = (min(times), max(times))

    def _unaccounted(self) -> list[str]:
        return [activity_id for activity_id in self.pending_ids() if activity_id not in self._seen]

    def _listing(self, **filters: Any) -> Listing:
        pages = math.ceil(len(self._unaccounted()) / PAGE_SIZE) + EXTRA_PAGES
        return Listing({**filters, "page_size": PAGE_SIZE}, max_pages=pages)

    def _window(self) -> tuple[datetime, datetime] | None:
        """From a day before the earliest due or creation time of a pending id to a day after the latest."""
        spans = [self._span[i] for i in self._pending if i in self._span]
        if not spans:
            return None
        earliest = datetime.fromtimestamp(min(start for start, _ in spans), UTC)
        latest = datetime.fromtimestamp(max(end for _, end in spans), UTC)
        return earliest - WINDOW_MARGIN, latest + WINDOW_MARGIN

    def _due_for_direct_read(self) -> list[str]:
        due = [i for i in self._unaccounted() if self._next_direct_read.get(i, 0) <= self.cycles]
        due.sort(key=lambda activity_id: self._next_direct_read.get(activity_id, 0))
        reads = due[:DIRECT_READS_PER_CYCLE]
        for activity_id in reads:
            self._next_direct_read[activity_id] = self.cycles + DIRECT_READ_EVERY_CYCLES
        return reads


def sweep_once(hook: KizenHook, sweep: CompletionSweep) -> None:
    """Run one cycle of `sweep` through the sync hook.

    :raises CycleCutShort: when Kizen answered a request with an error.
    """
    for request in sweep.cycle():
        if isinstance(request, Listing):
            try:
                pages = hook.list_scheduled_activity_pages(sweep.item_model, **request.filters)
                for pages_read, page in enumerate(pages, 1):
                    if not sweep.see_page(request, page, pages_read):
                        break
            except KizenError as error:
                raise CycleCutShort(error) from error
            continue
        for activity_id in request.activity_ids:
            try:
                sweep.see(hook.get_scheduled_activity(activity_id))
            except KizenError as error:
                raise CycleCutShort(error, activity_id) from error


async def asweep_once(hook: KizenHook, sweep: CompletionSweep, *, pace: Pace, max_concurrency: int) -> None:
    """Run one cycle of `sweep` through the async hook; direct reads go `max_concurrency` at a time.

    :raises CycleCutShort: when Kizen answered a request with an error.
    """
    for request in sweep.cycle():
        if isinstance(request, Listing):
            try:
                listed = hook.alist_scheduled_activity_pages(sweep.item_model, **request.filters)
                async with aclosing(listed) as pages:
                    pages_read = 0
                    async for page in pages:
                        pages_read += 1
                        for start in range(0, len(page), PAGE_SLICE):
                            await asyncio.sleep(0)  # let the triggerer's other triggers run
                            sweep.see_all(page[start : start + PAGE_SLICE])
                        if not sweep.wants_next_page(request, pages_read):
                            break
            except KizenError as error:
                raise CycleCutShort(error) from error
            continue
        await _aread_each(hook, sweep, request.activity_ids, pace=pace, max_concurrency=max_concurrency)


async def _aread_each(
    hook: KizenHook, sweep: CompletionSweep, activity_ids: list[str], *, pace: Pace, max_concurrency: int
) -> None:
    # A fixed set of workers shares one iterator; the first error stops them all, because the hook has
    # already retried that read: Kizen is struggling, or the wait is over.
    queue = iter(activity_ids)
    failures: list[CycleCutShort] = []

    async def worker() -> None:
        for activity_id in queue:
            if failures:
                return
            try:
                sweep.see(await hook.aget_scheduled_activity(activity_id, pace=pace))
            except KizenError as error:
                failures.append(CycleCutShort(error, activity_id))
                return

    async with asyncio.TaskGroup() as group:
        for _ in range(min(max_concurrency, len(activity_ids))):
            group.create_task(worker())
    if failures:
        raise failures[0]
