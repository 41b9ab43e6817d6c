"""Wait until people have completed their scheduled activities in Kizen.

The hook and the sweep are imported when the task runs, not when a DAG file is parsed.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_kizen import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow_provider_kizen.hooks.kizen import KizenHook
    from airflow_provider_kizen.triggers.completion_sweep import CompletionSweep

# What Airflow passes as next_method when it ends a deferral itself (its timeout, or a failed trigger).
DEFERRAL_FAILED = "__fail__"
# How many ids the log line before deferring names.
IDS_SHOWN = 5


def parse_activity_ids(value: Any) -> list[str]:
    """Turn the rendered ``activity_ids`` into a list of unique ids, in order.

    Accepts one id, a list of ids, or a string holding a list: JSON, or the Python form Jinja renders
    a pulled XCom list into (``"['a', 'b']"``) unless the DAG renders native objects.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            value = [text]
        else:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise ValueError(f"activity_ids is neither a JSON nor a Python list: {text!r}") from None
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"activity_ids must be an id or a list of ids, got {type(value).__name__}")
    for index, activity_id in enumerate(value):
        if not isinstance(activity_id, str) or not activity_id.strip():
            raise ValueError(f"activity_ids[{index}] must be a non-empty string, got {activity_id!r}")
    return list(dict.fromkeys(activity_id.strip() for activity_id in value))


class ScheduledActivityCompletedSensor(BaseSensorOperator):
    """Succeed once every given Kizen scheduled activity is completed.

    An activity is completed when Kizen has set its ``completed_at`` or ``logged_activity_id``. The
    return value (and so the XCom) lists ``{"id", "completed_at", "logged_activity_id"}`` of every
    activity, in the order of ``activity_ids``; with ``include_activities=True`` it lists Kizen's
    whole read objects instead. The sensor also pushes the XComs ``completed_ids`` and ``pending_ids``
    when it succeeds and, before it raises, when it times out, so a task downstream (with
    ``trigger_rule`` set, or after ``soft_fail``) can escalate exactly the pending ones. An empty list
    of ids succeeds at once with ``[]``.

    Each look at Kizen sweeps its list of scheduled activities a page at a time and reads by id only
    what no page accounted for (:mod:`~airflow_provider_kizen.triggers.completion_sweep`). In
    ``poke`` and ``reschedule`` mode each poke is one look, through the sync hook. With
    ``deferrable=True`` the sensor looks once, finishes at once if everything is completed, and
    otherwise hands the wait to the triggerer
    (:class:`~airflow_provider_kizen.triggers.scheduled_activity.ScheduledActivityCompletedTrigger`).

    Rate limits, 5xx answers and network errors never end the wait. An activity Kizen will not show
    (401/403, or 404 because it was deleted) fails the task without retries. Running past ``timeout``
    fails it without retries too, or skips it with ``soft_fail=True``.

    :param activity_ids: templated. One id, a list of ids, a JSON list string, or the
        ``activity_ids`` XCom of ``ScheduleActivityOperator``.
    :param kizen_conn_id: the Kizen connection to use.
    :param deferrable: wait in the triggerer instead of a worker. Defaults to the
        ``[operators] default_deferrable`` setting.
    :param max_concurrency: deferrable mode: the most direct reads the trigger has in flight at once.
    :param include_activities: return (and pass through the trigger event) the whole activities
        rather than their ids and completion times. They hold notes and contacts' details, which
        Airflow then stores and the triggerer logs; keep it off for large watches.
    """

    template_fields: Sequence[str] = ("activity_ids",)
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        activity_ids: str | Sequence[str],
        kizen_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_concurrency: int = 10,
        include_activities: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.activity_ids = activity_ids
        self.kizen_conn_id = kizen_conn_id
        self.deferrable = deferrable
        self.max_concurrency = max_concurrency
        self.include_activities = include_activities
        self._sweep: CompletionSweep | None = None

    @cached_property
    def hook(self) -> KizenHook:
        from airflow_provider_kizen.hooks.kizen import KizenHook

        return KizenHook(self.kizen_conn_id)

    def execute(self, context: Context) -> Any:
        from airflow_provider_kizen.triggers.completion_sweep import CompletionSweep

        activity_ids = parse_activity_ids(self.activity_ids)
        if not activity_ids:
            self.log.info("No scheduled activities to wait for")
            self._push_ids(context, completed_ids=[], pending_ids=[])
            return []
        # Pokes of one run share this sweep, so what one look learned serves the next; a new run (or a
        # rescheduled poke) starts from nothing.
        self._sweep = CompletionSweep(activity_ids, keep_activities=self.include_activities)
        try:
            if self.deferrable:
                return self._look_then_defer(context, self._sweep)
            try:
                return super().execute(context)
            except (AirflowSensorTimeout, AirflowSkipException):
                if self._sweep.cycles:
                    self._push_ids(context, self._sweep.completed_ids(), self._sweep.pending_ids())
                raise
        finally:
            self.hook.close()

    def _look_then_defer(self, context: Context, sweep: CompletionSweep) -> Any:
        if self._look(sweep):
            return self._succeed(context, sweep)
        pending = sweep.pending_ids()
        deadline = time.time() + self.timeout
        shown = ", ".join(pending[:IDS_SHOWN]) + (" ..." if len(pending) > IDS_SHOWN else "")
        self.log.info(
            "Waiting in the triggerer for %d of %d scheduled activities to be completed (%s); "
            "looking every %g s until %s",
            len(pending),
            len(sweep.activity_ids),
            shown,
            self.poke_interval,
            datetime.fromtimestamp(deadline, UTC).isoformat(timespec="seconds"),
        )
        from airflow_provider_kizen.triggers.scheduled_activity import ScheduledActivityCompletedTrigger

        self.defer(
            trigger=ScheduledActivityCompletedTrigger(
                activity_ids=sweep.activity_ids,
                deadline=deadline,
                kizen_conn_id=self.kizen_conn_id,
                poll_interval=self.poke_interval,
                max_concurrency=self.max_concurrency,
                include_activities=self.include_activities,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> PokeReturnValue:
        assert self._sweep is not None, "execute() sets up the sweep before the first poke"
        if not self._look(self._sweep):
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._succeed(context, self._sweep))

    def _look(self, sweep: CompletionSweep) -> bool:
        """One sweep; True when every activity is completed. Transient errors only end this look."""
        from airflow_provider_kizen.triggers.completion_sweep import CycleCutShort, sweep_once
        from airflow_provider_kizen.triggers.waiting_policy import TRANSIENT_ERRORS, unwatchable_message

        try:
            sweep_once(self.hook, sweep)
        except CycleCutShort as cut_short:
            if not isinstance(cut_short.error, TRANSIENT_ERRORS):
                raise AirflowFailException(
                    unwatchable_message(cut_short.activity_id, cut_short.error)
                ) from cut_short.error
            self.log.warning("Kizen did not answer this look, waiting for the next one: %s", cut_short)
        pending = len(sweep.pending_ids())
        total = len(sweep.activity_ids)
        self.log.info("%d of %d scheduled activities completed", total - pending, total)
        return sweep.done

    def _succeed(self, context: Context, sweep: CompletionSweep) -> list[dict[str, Any]]:
        self._push_ids(context, sweep.completed_ids(), pending_ids=[])
        if self.include_activities:
            return sweep.completed_activities(sweep.completed_ids())
        return sweep.completed_records()

    @staticmethod
    def _push_ids(context: Context, completed_ids: list[str], pending_ids: list[str]) -> None:
        context["ti"].xcom_push(key="completed_ids", value=completed_ids)
        context["ti"].xcom_push(key="pending_ids", value=pending_ids)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """When Airflow, not the trigger, ended the wait (its deferral timeout came first, or the
        trigger failed), look once more so the id XComs are pushed all the same, then let
        ``BaseSensorOperator`` raise (or skip under ``soft_fail``)."""
        if next_method == DEFERRAL_FAILED:
            from airflow_provider_kizen.triggers.completion_sweep import (
                CompletionSweep,
                CycleCutShort,
                sweep_once,
            )

            sweep = CompletionSweep(parse_activity_ids(self.activity_ids))
            try:
                sweep_once(self.hook, sweep)
            except CycleCutShort as cut_short:
                self.log.warning("Could not look at Kizen once more: %s", cut_short)
            else:
                self._push_ids(context, sweep.completed_ids(), sweep.pending_ids())
            finally:
                self.hook.close()
        return super().resume_execution(next_method, next_kwargs, context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Resume from the trigger. ``BaseSensorOperator.resume_execution`` turns a raise into a
        skip under ``soft_fail``; the id XComs are pushed before that."""
        status = event.get("status")
        if status == "error":
            raise AirflowFailException(event["message"])
        if status not in ("success", "timeout"):
            raise AirflowException(f"Unexpected event from ScheduledActivityCompletedTrigger: {event!r}")
        completed_ids = [record["id"] for record in event["completed"]]
        pending_ids: list[str] = event.get("pending_ids", [])
        self._push_ids(context, completed_ids, pending_ids)
        if status == "timeout":
            raise AirflowSensorTimeout(event["message"])
        self.log.info("All %d scheduled activities completed", len(completed_ids))
        result: list[dict[str, Any]] = event["activities"] if self.include_activities else event["completed"]
        return result
