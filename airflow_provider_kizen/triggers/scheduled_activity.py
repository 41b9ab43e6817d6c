"""Wait in the triggerer until scheduled activities are completed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kizen.client.errors import (
    TRANSIENT_ERRORS,
    KizenError,
    KizenRateLimitError,
    unwatchable_message,
)
from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.hooks.kizen import KizenHook

# However long the outage, the trigger looks again at least this often (or every poll_interval, if longer).
MAX_BACKOFF_SECONDS = 600.0

# Completed activities decoded per turn of the event loop when the success event is built (a few ms).
DECODE_SLICE = 250


@dataclass
class _Cycle:
    """What one pass over the pending ids found."""

    completed: dict[str, str] = field(default_factory=dict)  # id -> the activity as JSON text
    transient: KizenError | None = None
    fatal: tuple[str, KizenError] | None = None


class ScheduledActivityCompletedTrigger(BaseTrigger):
    """Poll Kizen until every given scheduled activity is completed, or the deadline passes.

    Each cycle reads only the activities that are still pending, with at most ``max_concurrency``
    requests in flight, through one async hook (and one HTTP client) for the whole wait.

    It fires exactly one event, always plain JSON with a ``status``:

    - ``{"status": "success", "activities": [...]}``: every activity, in ``activity_ids`` order, as
      Kizen's read object.
    - ``{"status": "error", "activity_id", "http_status", "request_id", "message"}``: Kizen refused
      to show an activity (401/403, or 404 because it was deleted). Waiting would not change that.
    - ``{"status": "timeout", "pending_ids": [...], "message"}``: the deadline passed first.

    Rate limits, 5xx answers and network errors do not end the wait. The hook retries each read
    first; an error that outlasts those retries cuts the cycle short, the ids stay pending, and the
    next cycle comes later (backing off per failed cycle in a row, or after Kizen's Retry-After).

    :param activity_ids: ids of the scheduled activities to wait for.
    :param deadline: when to give up, as a POSIX timestamp in seconds. It is absolute, so a trigger
        re-created after a triggerer restart keeps the original deadline.
    :param kizen_conn_id: the Kizen connection to use.
    :param poll_interval: seconds between the end of one cycle and the start of the next.
    :param max_concurrency: the most requests in flight at once within a cycle.
    """

    def __init__(
        self,
        activity_ids: list[str],
        deadline: float,
        kizen_conn_id: str = KizenHook.default_conn_name,
        poll_interval: float = 60.0,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__()
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.activity_ids = list(activity_ids)
        self.deadline = deadline
        self.kizen_conn_id = kizen_conn_id
        self.poll_interval = poll_interval
        self.max_concurrency = max_concurrency

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "activity_ids": self.activity_ids,
                "deadline": self.deadline,
                "kizen_conn_id": self.kizen_conn_id,
                "poll_interval": self.poll_interval,
                "max_concurrency": self.max_concurrency,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = KizenHook(self.kizen_conn_id)
        try:
            yield TriggerEvent(await self._wait(hook))
        finally:
            await hook.aclose()

    async def _wait(self, hook: KizenHook) -> dict[str, Any]:
        pace = Pace()
        backoff = RetryPolicy(
            backoff_initial_seconds=2 * self.poll_interval,
            backoff_max_seconds=max(self.poll_interval, MAX_BACKOFF_SECONDS),
        )
        # Completed activities stay JSON text until the success event. A str is not tracked by the
        # cyclic garbage collector; thousands of nested dicts kept through a long wait would be, and
        # would bring on full collections of the whole triggerer process, each a long event-loop stall.
        completed: dict[str, str] = {}
        failed_cycles = 0
        while True:
            pending = [activity_id for activity_id in self.activity_ids if activity_id not in completed]
            if not pending:
                return await self._success_event(completed)
            remaining = self.deadline - time.time()
            if remaining <= 0:
                return self._timeout_event(pending)
            cycle = _Cycle()
            try:
                async with asyncio.timeout(remaining):
                    await self._poll(hook, pace, pending, cycle)
            except TimeoutError:
                completed.update(cycle.completed)
                return self._timeout_event([i for i in pending if i not in completed])
            if cycle.fatal is not None:
                activity_id, error = cycle.fatal
                return {
                    "status": "error",
                    "activity_id": activity_id,
                    "http_status": error.status,
                    "request_id": error.request_id,
                    "message": unwatchable_message(activity_id, error),
                }
            completed.update(cycle.completed)
            self.log.info("%d of %d scheduled activities completed", len(completed), len(self.activity_ids))
            if len(completed) == len(self.activity_ids):
                continue
            delay = self.poll_interval
            if cycle.transient is None:
                failed_cycles = 0
            else:
                failed_cycles += 1
                delay = max(delay, backoff.backoff_seconds(failed_cycles))
                if isinstance(cycle.transient, KizenRateLimitError) and cycle.transient.retry_after:
                    delay = max(delay, cycle.transient.retry_after)
                self.log.warning("Kizen is unavailable (%s); looking again in %.1f s", cycle.transient, delay)
            await asyncio.sleep(min(delay, max(0.0, self.deadline - time.time())))

    async def _poll(self, hook: KizenHook, pace: Pace, pending: list[str], cycle: _Cycle) -> None:
        """Read the pending ids, ``max_concurrency`` at a time, into ``cycle``.

        The first error ends the cycle early: the hook has already retried that request, so Kizen is
        struggling (transient) or the wait is over (fatal), and reading on would only add load.
        """
        # One shared iterator feeds a fixed set of workers, so watching thousands of ids costs
        # max_concurrency coroutines, not one per id.
        queue: Iterator[str] = iter(pending)

        async def worker() -> None:
            for activity_id in queue:
                if cycle.transient is not None or cycle.fatal is not None:
                    return
                try:
                    activity = await hook.aget_scheduled_activity(activity_id, pace=pace)
                except TRANSIENT_ERRORS as error:
                    cycle.transient = error
                    return
                except KizenError as error:
                    cycle.fatal = (activity_id, error)
                    return
                if activity.is_completed:
                    cycle.completed[activity_id] = activity.model_dump_json()

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.max_concurrency, len(pending))):
                group.create_task(worker())

    async def _success_event(self, completed: dict[str, str]) -> dict[str, Any]:
        """The success event: every activity, in ``activity_ids`` order, decoded a slice at a time.

        Decoding thousands of activities takes tens of milliseconds; between slices the loop serves the
        other triggers.
        """
        activities: list[dict[str, Any]] = []
        for start in range(0, len(self.activity_ids), DECODE_SLICE):
            activities += [json.loads(completed[i]) for i in self.activity_ids[start : start + DECODE_SLICE]]
            await asyncio.sleep(0)
        return {"status": "success", "activities": activities}

    def _timeout_event(self, pending: list[str]) -> dict[str, Any]:
        return {
            "status": "timeout",
            "pending_ids": pending,
            "message": (
                f"{len(pending)} of {len(self.activity_ids)} scheduled activities were not completed "
                f"by the deadline: {', '.join(pending[:10])}{' ...' if len(pending) > 10 else ''}"
            ),
        }
