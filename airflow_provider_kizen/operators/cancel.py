"""CancelScheduledActivitiesOperator: delete scheduled activities that are no longer wanted.

Each activity is read first, because a completed one is history (a logged call, a held meeting) and
must stay. Deleting is idempotent: an activity already gone counts as cancelled, so a rerun or a task
retry after a crash simply finds nothing left to delete, and no ledger is needed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_kizen import DEFAULT_CONN_ID
from airflow_provider_kizen.client.errors import KizenError, KizenNotFoundError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kizen.client.pacing import Pace
    from airflow_provider_kizen.hooks.kizen import KizenHook

# How many failures the task's error message quotes; every one is in the results.
QUOTED_ERRORS = 5


def parse_activity_ids(value: Any) -> list[str]:
    """The ids of a rendered `activity_ids`: a list, one id, or JSON text of either."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", '"')):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise AirflowFailException(
                    f"activity_ids looks like JSON but is not valid JSON ({exc}); "
                    "use `| tojson` in the template"
                ) from None
        else:
            value = [text] if text else []
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        raise AirflowFailException(
            f"activity_ids must be a list of ids, one id, or JSON text, not {type(value).__name__}"
        )
    ids = []
    for index, item in enumerate(value):
        text = str(item).strip() if isinstance(item, (str, int)) and not isinstance(item, bool) else ""
        if not text:
            raise AirflowFailException(f"activity_ids[{index}] is not an activity id: {item!r}")
        ids.append(text)
    return ids


class CancelScheduledActivitiesOperator(BaseOperator):
    """Delete Kizen scheduled activities by id; completed ones are left alone.

    Returns one result per id, in input order: ``{index, activity_id, status}`` with status
    ``cancelled`` (deleted now, or already gone: then ``already_gone`` is true), ``completed`` (logged
    in Kizen, so kept), or ``failed`` (with ``error``). An id given twice is cancelled once.

    :param activity_ids: templated; a list of ids, one id, JSON text of either, or an XComArg.
    :param kizen_conn_id: the ``kizen`` connection.
    :param fail_on_error: fail the task when any id failed (after every id was attempted).
    :param max_concurrency: ids handled at once.
    :param max_requests_per_second: a cap on the request rate; None for no cap.
    """

    template_fields: Sequence[str] = ("activity_ids",)
    ui_color = "#fdecea"

    def __init__(
        self,
        *,
        activity_ids: Any,
        kizen_conn_id: str = DEFAULT_CONN_ID,
        fail_on_error: bool = True,
        max_concurrency: int = 8,
        max_requests_per_second: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.activity_ids = activity_ids
        self.kizen_conn_id = kizen_conn_id
        self.fail_on_error = fail_on_error
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = max_requests_per_second

    @cached_property
    def hook(self) -> KizenHook:
        from airflow_provider_kizen.hooks.kizen import KizenHook  # at run time, not at DAG parse

        return KizenHook(kizen_conn_id=self.kizen_conn_id)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        ids = parse_activity_ids(self.activity_ids)
        self.hook.get_config()  # read the connection on the worker thread, not from the event loop
        outcomes = asyncio.run(self._cancel_all(list(dict.fromkeys(ids))))
        results = [{"index": index, **outcomes[activity_id]} for index, activity_id in enumerate(ids)]
        counts: dict[str, int] = {}
        for outcome in outcomes.values():
            counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
        gone = sum(1 for outcome in outcomes.values() if outcome.get("already_gone"))
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        self.log.info("Kizen cancellations: %s (%d of them were already gone)", summary or "no ids", gone)
        failed = [result for result in results if result["status"] == "failed"]
        if failed and self.fail_on_error:
            quoted = "\n".join(f"  {result['error']}" for result in failed[:QUOTED_ERRORS])
            more = len(failed) - QUOTED_ERRORS
            tail = f"\n  ... and {more} more (see the task's return value)" if more > 0 else ""
            raise AirflowException(f"{len(failed)} of {len(results)} cancellations failed:\n{quoted}{tail}")
        return results

    async def _cancel_all(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        from airflow_provider_kizen.client.pacing import Pace

        pace = Pace(self.max_requests_per_second)
        slots = asyncio.Semaphore(self.max_concurrency)

        async def bounded(activity_id: str) -> dict[str, Any]:
            async with slots:
                return await self._cancel(activity_id, pace)

        try:
            outcomes = await asyncio.gather(*(bounded(activity_id) for activity_id in ids))
        finally:
            await self.hook.aclose()
        return dict(zip(ids, outcomes, strict=True))

    async def _cancel(self, activity_id: str, pace: Pace) -> dict[str, Any]:
        try:
            activity = await self.hook.aget_scheduled_activity(activity_id, pace=pace)
            if activity.is_completed:
                self.log.info("Scheduled activity %s is completed; leaving it alone", activity_id)
                return {"activity_id": activity_id, "status": "completed"}
            await self.hook.adelete_scheduled_activity(activity_id, pace=pace)
        except KizenNotFoundError:
            return {"activity_id": activity_id, "status": "cancelled", "already_gone": True}
        except KizenError as exc:
            error = f"activity {activity_id}: {type(exc).__name__}: {exc}"
            return {"activity_id": activity_id, "status": "failed", "error": error}
        return {"activity_id": activity_id, "status": "cancelled", "already_gone": False}
