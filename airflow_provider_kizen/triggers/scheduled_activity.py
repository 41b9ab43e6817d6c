"""Wait in the triggerer until scheduled activities are completed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.triggers.completion_sweep import CompletionSweep, CycleCutShort, asweep_once
from airflow_provider_kizen.triggers.waiting_policy import TRANSIENT_ERRORS, next_look_in, unwatchable_message


class ScheduledActivityCompletedTrigger(BaseTrigger):
    """Poll Kizen until every given scheduled activity is completed, or the deadline passes.

    Each cycle sweeps Kizen's list of scheduled activities a page (1,000 activities) at a time, and
    reads by id only the few activities no page accounted for
    (:mod:`~airflow_provider_kizen.triggers.completion_sweep`), so the requests of a cycle follow the
    pages, not the ids. One async hook, and one HTTP client, serves the whole wait.

    It fires exactly one event, always plain JSON with a ``status``. Events carry ids and completion
    times only, because Airflow stores each event and logs it in full:

    - ``{"status": "success", "completed": [{"id", "completed_at", "logged_activity_id"}, ...]}``, in
      ``activity_ids`` order, plus ``"activities"`` (Kizen's read objects) with ``include_activities``.
    - ``{"status": "timeout", "pending_ids": [...], "completed": [...], "message"}``: the deadline
      passed first; ``completed`` (and ``activities``) as above, for the ones that were completed.
    - ``{"status": "error", "activity_id", "http_status", "request_id", "message"}``: Kizen refused
      to show an activity (401/403, or 404 because it was deleted) or to list them (``activity_id``
      is then None). Waiting would not change that.

    Rate limits, 5xx answers and network errors do not end the wait. The hook retries each request
    first; an error that outlasts those retries cuts the cycle short, and the next cycle comes later
    (backing off per failed cycle in a row, or after Kizen's Retry-After).

    :param activity_ids: ids of the scheduled activities to wait for.
    :param deadline: when to give up, as a POSIX timestamp in seconds. It is absolute, so a trigger
        re-created after a triggerer restart keeps the original deadline.
    :param kizen_conn_id: the Kizen connection to use.
    :param poll_interval: seconds between the end of one cycle and the start of the next.
    :param max_concurrency: the most direct reads in flight at once within a cycle.
    :param include_activities: also put the completed activities, whole, into the event.
    """

    def __init__(
        self,
        activity_ids: list[str],
        deadline: float,
        kizen_conn_id: str = KizenHook.default_conn_name,
        poll_interval: float = 60.0,
        max_concurrency: int = 10,
        include_activities: bool = False,
    ) -> None:
        super().__init__()
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.activity_ids = list(activity_ids)
        self.deadline = deadline
        self.kizen_conn_id = kizen_conn_id
        self.poll_interval = poll_interval
        self.max_concurrency = max_concurrency
        self.include_activities = include_activities

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "activity_ids": self.activity_ids,
                "deadline": self.deadline,
                "kizen_conn_id": self.kizen_conn_id,
                "poll_interval": self.poll_interval,
                "max_concurrency": self.max_concurrency,
                "include_activities": self.include_activities,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = KizenHook(self.kizen_conn_id)
        try:
            yield TriggerEvent(await self._wait(hook))
        finally:
            await hook.aclose()

    async def _wait(self, hook: KizenHook) -> dict[str, Any]:
        sweep = CompletionSweep(self.activity_ids, keep_activities=self.include_activities)
        pace = Pace()
        failed_cycles = 0
        while not sweep.done:
            remaining = self.deadline - time.time()
            if remaining <= 0:
                return outcome_event(sweep, "timeout")
            failure: CycleCutShort | None = None
            try:
                async with asyncio.timeout(remaining):
                    await asweep_once(hook, sweep, pace=pace, max_concurrency=self.max_concurrency)
            except TimeoutError:
                return outcome_event(sweep, "timeout")
            except CycleCutShort as cut_short:
                if not isinstance(cut_short.error, TRANSIENT_ERRORS):
                    return error_event(cut_short)
                failure = cut_short
            self.log.info(
                "%d of %d scheduled activities completed",
                len(self.activity_ids) - len(sweep.pending_ids()),
                len(self.activity_ids),
            )
            if sweep.done:
                break
            failed_cycles = 0 if failure is None else failed_cycles + 1
            delay = next_look_in(self.poll_interval, failed_cycles, failure.error if failure else None)
            if failure is not None:
                self.log.warning("Kizen is unavailable (%s); looking again in %.1f s", failure, delay)
            await asyncio.sleep(min(delay, max(0.0, self.deadline - time.time())))
        return outcome_event(sweep, "success")


def outcome_event(sweep: CompletionSweep, status: str) -> dict[str, Any]:
    """The success or timeout event: small completion records, and the pending ids on a timeout."""
    event: dict[str, Any] = {"status": status, "completed": sweep.completed_records()}
    if sweep.keep_activities:
        event["activities"] = sweep.completed_activities(sweep.completed_ids())
    if status == "timeout":
        pending = sweep.pending_ids()
        event["pending_ids"] = pending
        event["message"] = (
            f"{len(pending)} of {len(sweep.activity_ids)} scheduled activities were not completed "
            f"by the deadline: {', '.join(pending[:10])}{' ...' if len(pending) > 10 else ''}"
        )
    return event


def error_event(cut_short: CycleCutShort) -> dict[str, Any]:
    """The event for an error that waiting would not change."""
    error = cut_short.error
    return {
        "status": "error",
        "activity_id": cut_short.activity_id,
        "http_status": error.status,
        "request_id": error.request_id,
        "message": unwatchable_message(cut_short.activity_id, error),
    }
