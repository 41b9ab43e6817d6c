"""The async batch runner: creates scheduled activities exactly once, and brings existing ones in step.

One ``Pace`` is shared by the whole batch, lookups and updates included, so a 429 slows every request
down, not just the one that got it. A create whose outcome is unknown is re-sent only once a lookup has
proven that it made nothing (see ``lookup``); otherwise the record is reported unsettled. A record that
names its activity is compared with it and only what differs is written (see ``updating``).

Records alike in everything but their note (``NaturalKey.alike_key``) are processed one after the
other, so that one record's lookup can never adopt an activity another record's create has made but
not yet claimed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from airflow_provider_kizen.client.errors import (
    KizenError,
    KizenNotFoundError,
    KizenUnknownOutcomeError,
    not_visible_hint,
)
from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity, ValidatedWrite
from airflow_provider_kizen.operators.batch_settings import BatchSettings
from airflow_provider_kizen.operators.ledger import ProgressLedger
from airflow_provider_kizen.operators.lookup import Claims, Controls, Listings, Verdict, settle
from airflow_provider_kizen.operators.reconciliation import NaturalKey, canonical_json
from airflow_provider_kizen.operators.updating import UpdateOutcome, UpdateRecord, bring_in_step

Status = Literal["created", "already_existed", "updated", "would_update", "unchanged", "completed", "failed"]


class TaskLog(Protocol):
    """The task logger (``BaseOperator.log``), as far as the runner uses it."""

    def info(self, event: Any, *args: Any, **kw: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One validated record: a body to create, or an update of the activity it names.

    :param look_first: an earlier try (or send) may have made this record's activity; look before sending.
    :param recorded_id: an earlier try created this record's activity (and recorded it); read it back.
    :param recorded_changes: the fields an earlier try changed in this record's activity.
    :param sends: how often this try has already sent it, each time without learning the outcome.
    :param unknown: why the outcome of the last of those sends is unknown.
    :param last_sent_at: when the last of those sends ended (``time.monotonic()``).
    """

    index: int
    record_key: str
    payload: ValidatedWrite | UpdateRecord
    look_first: bool = False
    recorded_id: str | None = None
    recorded_changes: tuple[str, ...] = ()
    sends: int = 0
    unknown: str = ""
    last_sent_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one record; `activity` is Kizen's read shape as plain JSON."""

    status: Status
    activity_id: str | None = None
    activity: dict[str, Any] | None = None
    error: str | None = None
    field_errors: dict[str, list[str]] | None = None
    unsettled: bool = False  # failed because its outcome is unknown: it may or may not exist in Kizen
    changed_fields: tuple[str, ...] = ()  # for "updated" and "would_update"

    @classmethod
    def failure(cls, error: KizenError, context: str = "") -> Outcome:
        return cls(
            "failed", error=f"{context}{type(error).__name__}: {error}", field_errors=error.field_errors
        )


# What a batch result keeps of its activity: enough to use it downstream, small enough for 100,000 records.
SUMMARY_FIELDS = frozenset({"id", "activity_object", "due_datetime", "completed_at"})


def full_activity(activity: ScheduledActivity) -> dict[str, Any]:
    """The activity as Kizen returned it, as plain JSON."""
    return activity.model_dump(mode="json")


class ActivitySummaries:
    """Summaries of activities (`SUMMARY_FIELDS`), sharing equal parts such as the activity type.

    A whole activity costs about 6 KB of Python objects; a summary about 0.3 KB.
    """

    def __init__(self) -> None:
        self._shared: dict[str, Any] = {}

    def __call__(self, activity: ScheduledActivity) -> dict[str, Any]:
        summary = activity.model_dump(mode="json", include=set(SUMMARY_FIELDS))
        if isinstance(summary.get("activity_object"), dict):
            activity_type = summary["activity_object"]
            summary["activity_object"] = self._shared.setdefault(canonical_json(activity_type), activity_type)
        return summary


class Progress:
    """Logs done/total, rate, ETA and failures, at most once every `interval` seconds."""

    def __init__(self, total: int, log: TaskLog, interval: float) -> None:
        self.total, self.log, self.interval = total, log, interval
        self.done = self.failed = 0
        self.started = self._last_line = time.monotonic()

    def count(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.status == "failed"
        now = time.monotonic()
        if now - self._last_line >= self.interval and self.done < self.total:
            self._last_line = now
            self.log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else float("inf")
        return (
            f"Kizen batch: {self.done}/{self.total} done ({self.done * 100 // max(self.total, 1)}%), "
            f"{rate:.1f} records/s, ETA {eta:.0f}s, {self.failed} failed so far"
        )


class BatchRunner:
    """Runs one batch; `cancel()` may be called from any thread (the operator's ``on_kill``).

    :param ledger: where created ids are recorded; None in a plan-only batch, which creates nothing.
    :param describe: what each result keeps of its activity (see `full_activity`, `ActivitySummaries`).
    :param claimed: activity ids records already own (recorded by earlier tries).
    """

    def __init__(
        self,
        hook: KizenHook,
        ledger: ProgressLedger | None,
        settings: BatchSettings,
        *,
        log: TaskLog,
        describe: Callable[[ScheduledActivity], dict[str, Any]],
        claimed: Iterable[str] = (),
    ) -> None:
        self.hook = hook
        self.ledger = ledger
        self.settings = settings
        self.log = log
        self.describe = describe
        self.controls = Controls()
        # Ids some record of this batch owns; reconciliation never hands one to a second record.
        self.claimed = Claims(self.controls, claimed)
        self._listings: Listings | None = None
        self._alike: dict[Hashable, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None

    def cancel(self) -> None:
        """Stop dispatching, cancel in-flight requests, and record what was created."""
        if self._loop is not None and self._main is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._main.cancel)

    async def run(
        self, items: Iterable[BatchItem], total: int, on_outcome: Callable[[BatchItem, Outcome], None]
    ) -> None:
        """Process every item; `on_outcome` is called once per item, as it completes."""
        self._loop, self._main = asyncio.get_running_loop(), asyncio.current_task()
        pace = Pace(self.settings.max_requests_per_second)
        self._listings = Listings(self.hook, pace)
        progress = Progress(total, self.log, self.settings.progress_interval)
        slots = asyncio.Semaphore(self.settings.max_concurrency)
        in_flight: set[asyncio.Task[None]] = set()

        # Records that met an unknown outcome before any control existed: looked at again at the end.
        waiting: list[BatchItem] = []

        async def one(item: BatchItem, *, last_chance: bool = False) -> None:
            try:
                payload = item.payload
                if isinstance(payload, UpdateRecord):
                    # Its activity is this record's: no lookup for a create may adopt it.
                    self.claimed.add(payload.activity_id)
                    outcome = await self._update(payload, pace, earlier=item.recorded_changes)
                    if outcome.status == "updated" and self.ledger is not None:
                        self.ledger.record_update(item.record_key, outcome.changed_fields)
                else:
                    key = _natural_key(payload)
                    async with self._one_at_a_time(key.alike_key):
                        processed = await self._process(item, payload, key, pace, last_chance=last_chance)
                        if isinstance(processed, BatchItem):
                            waiting.append(processed)
                            return
                        outcome = processed  # an activity it created or found is a control: claimed
                    # Written in the background, as the updates' fields are.
                    if (
                        outcome.activity_id is not None
                        and item.recorded_id is None
                        and self.ledger is not None
                    ):
                        self.ledger.record(item.record_key, str(outcome.activity_id))
                on_outcome(item, outcome)
                progress.count(outcome)
            finally:
                slots.release()

        crashed: list[BaseException] = []

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            # Outcomes are values; an exception here is a bug or a dead state store: stop the batch.
            if not task.cancelled() and (error := task.exception()) is not None and not crashed:
                crashed.append(error)
                if self._main is not None:
                    self._main.cancel()

        try:
            for item in items:
                await slots.acquire()
                if self.ledger is not None:
                    await self.ledger.before_dispatch(item.index)
                task = asyncio.create_task(one(item))
                in_flight.add(task)
                task.add_done_callback(finished)
            while in_flight:
                await asyncio.wait(set(in_flight))
            for item in waiting:
                await slots.acquire()
                task = asyncio.create_task(one(item, last_chance=True))
                in_flight.add(task)
                task.add_done_callback(finished)
            while in_flight:
                await asyncio.wait(set(in_flight))
        except asyncio.CancelledError:
            if crashed:
                raise crashed[0] from None
            raise
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            if self.ledger is not None:
                await self.ledger.flush()
        if progress.done > 0 and time.monotonic() - progress.started >= self.settings.progress_interval:
            self.log.info("%s", progress.line(time.monotonic()))

    @asynccontextmanager
    async def _one_at_a_time(self, alike_key: Hashable) -> AsyncIterator[None]:
        """Hold the lock of records alike in everything but the note; dropped when nobody waits."""
        lock = self._alike.setdefault(alike_key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._alike.get(alike_key) is lock:
                del self._alike[alike_key]

    def _outcome(self, status: Status, activity: ScheduledActivity) -> Outcome:
        return Outcome(status, activity_id=activity.id, activity=self.describe(activity))

    async def _update(self, record: UpdateRecord, pace: Pace, *, earlier: tuple[str, ...]) -> Outcome:
        """Bring the activity the record names in step with it (only compare it in a plan-only batch).

        `earlier` are the fields an earlier try changed: that try's PATCH is this record's update.
        """
        update = await bring_in_step(self.hook, record, pace, plan_only=self.settings.plan_only)
        return self._update_outcome(record, update, earlier)

    async def _process(
        self, item: BatchItem, payload: ValidatedWrite, key: NaturalKey, pace: Pace, *, last_chance: bool
    ) -> Outcome | BatchItem:
        """The record's outcome, or the item to look at again once the batch has made controls."""
        if item.recorded_id is not None:
            try:
                activity = await self.hook.aget_scheduled_activity(item.recorded_id, pace=pace)
            except KizenNotFoundError as exc:
                return Outcome.failure(
                    exc,
                    f"an earlier try created activity {item.recorded_id}, but Kizen answers 404 for it. "
                    f"{not_visible_hint(item.recorded_id)}: ",
                )
            except KizenError as exc:
                return Outcome.failure(
                    exc, f"an earlier try created activity {item.recorded_id}, but reading it failed: "
                )
            self.controls.add(key, activity.id)
            return self._outcome("already_existed", activity)
        sends, unknown = item.sends, item.unknown
        if item.look_first:
            looked = await self._look(item, key, pace, last_chance=last_chance)
            if not isinstance(looked, bool):
                return looked
            if looked is False and sends > self.settings.unknown_outcome_retries:
                return _not_created(sends, unknown)
        while True:
            sends += 1
            try:
                activity = await self.hook.acreate_scheduled_activity(payload, pace=pace)
            except KizenUnknownOutcomeError as exc:
                unknown = f"{type(exc).__name__}: {exc}"
            except KizenError as exc:
                return Outcome.failure(exc)
            else:
                self.controls.add(key, activity.id)
                return self._outcome("created", activity)
            retry = dataclasses.replace(
                item, look_first=True, sends=sends, unknown=unknown, last_sent_at=time.monotonic()
            )
            looked = await self._look(retry, key, pace, last_chance=last_chance)
            if not isinstance(looked, bool):
                # The send whose response was lost did create it (an earlier try's, when it was not ours).
                return looked
            if sends > self.settings.unknown_outcome_retries:
                return _not_created(sends, unknown)

    async def _look(
        self, item: BatchItem, key: NaturalKey, pace: Pace, *, last_chance: bool
    ) -> Outcome | BatchItem | bool:
        """The found activity's outcome; False when proven absent (send it); else why it is not sent."""
        assert self._listings is not None, "run() sets up the listings"
        try:
            verdict = await settle(
                self._listings,
                key,
                claimed=self.claimed,
                controls=self.controls,
                today=datetime.now(UTC).date(),
                last_sent_at=item.last_sent_at,
                last_chance=last_chance,
            )
        except KizenError as exc:
            context = f"outcome unknown ({item.unknown}) and " if item.unknown else ""
            return Outcome.failure(exc, f"{context}the lookup for its activity failed: ")
        if verdict.found is not None:
            # It exists, so it shows what lookups for records like it must find.
            self.controls.add(key, verdict.found.id)
            status: Status = "created" if item.sends else "already_existed"
            return self._outcome(status, verdict.found)
        if verdict.absent or self.settings.resend_unsettled:
            return False
        if not verdict.had_control and not last_chance:
            return item
        return self._unsettled(item, key, verdict)

    def _update_outcome(
        self, record: UpdateRecord, update: UpdateOutcome, earlier: tuple[str, ...]
    ) -> Outcome:
        activity = update.activity
        if update.status == "failed" or activity is None:
            return Outcome("failed", error=update.error, field_errors=update.field_errors)
        status: Status = update.status
        if update.status == "unchanged" and earlier:
            status = "updated"
        elif update.status == "updated" and self.settings.plan_only:
            status = "would_update"
        return Outcome(
            status,
            activity_id=record.activity_id,
            activity=self.describe(activity),
            changed_fields=tuple(dict.fromkeys((*earlier, *update.changed)))
            if status in ("updated", "would_update")
            else (),
        )

    @staticmethod
    def _unsettled(item: BatchItem, key: NaturalKey, verdict: Verdict) -> Outcome:
        why = "an earlier try may have sent it"
        if item.unknown:
            why = f"its create got no answer ({item.unknown})"
        entity = f" for {key.search_term}" if key.search_term else ""
        activity_type = key.activity_type_name or key.activity_type_id
        return Outcome(
            "failed",
            error=f"outcome unknown, not sent again: {why}, and the lookup could not settle whether "
            f"Kizen has its activity: {verdict.reason}. Check in Kizen for a {activity_type} activity"
            f"{entity} due {key.due_datetime}; if it is missing, create it, or run again with "
            "resend_unsettled=True",
            unsettled=True,
        )


def _not_created(sends: int, unknown: str) -> Outcome:
    return Outcome(
        "failed",
        error=f"not created: {sends} sends got no answer, and each time a lookup proved that Kizen had "
        f"not made the activity (last: {unknown})",
    )


def _natural_key(payload: ValidatedWrite) -> NaturalKey:
    return NaturalKey.from_request_json(payload.to_request_json())
