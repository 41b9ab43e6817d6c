"""Wait until people have completed their scheduled activities in Kizen."""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from airflow_provider_kizen.client.errors import TRANSIENT_ERRORS, KizenError, unwatchable_message
from airflow_provider_kizen.hooks.kizen import KizenHook


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
    """Succeed once every given Kizen scheduled activity is completed, and return them.

    An activity is completed when Kizen has set its ``completed_at`` or ``logged_activity_id``. The
    return value (and so the XCom) is the list of completed activities as Kizen's plain JSON read
    objects, in the order of ``activity_ids``. An empty list of ids succeeds at once with ``[]``.

    In ``poke`` and ``reschedule`` mode each poke reads the activities still pending with the sync
    hook. With ``deferrable=True`` the wait moves to the triggerer
    (:class:`~airflow_provider_kizen.triggers.scheduled_activity.ScheduledActivityCompletedTrigger`)
    and no worker slot is held.

    Rate limits, 5xx answers and network errors never end the wait. An activity Kizen will not show
    (401/403, or 404 because it was deleted) fails the task without retries. Running past ``timeout``
    fails it without retries too, or skips it with ``soft_fail=True``.

    :param activity_ids: templated. One id, a list of ids, a JSON list string, or the
        ``activity_ids`` XCom of ``ScheduleActivityOperator``.
    :param kizen_conn_id: the Kizen connection to use.
    :param deferrable: wait in the triggerer instead of a worker. Defaults to the
        ``[operators] default_deferrable`` setting.
    :param max_concurrency: deferrable mode: the most requests the trigger has in flight at once.
    """

    template_fields: Sequence[str] = ("activity_ids",)
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        activity_ids: str | Sequence[str],
        kizen_conn_id: str = KizenHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_concurrency: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.activity_ids = activity_ids
        self.kizen_conn_id = kizen_conn_id
        self.deferrable = deferrable
        self.max_concurrency = max_concurrency
        self._completed: dict[str, dict[str, Any]] = {}

    @cached_property
    def hook(self) -> KizenHook:
        return KizenHook(self.kizen_conn_id)

    def execute(self, context: Context) -> Any:
        activity_ids = parse_activity_ids(self.activity_ids)
        if not activity_ids:
            self.log.info("No scheduled activities to wait for")
            return []
        if self.deferrable:
            # Imported here: a DAG file that only parses the sensor should not load the trigger machinery.
            from airflow_provider_kizen.triggers.scheduled_activity import ScheduledActivityCompletedTrigger

            self.defer(
                trigger=ScheduledActivityCompletedTrigger(
                    activity_ids=activity_ids,
                    deadline=time.time() + self.timeout,
                    kizen_conn_id=self.kizen_conn_id,
                    poll_interval=self.poke_interval,
                    max_concurrency=self.max_concurrency,
                ),
                method_name="execute_complete",
                # Airflow fails a trigger that outlives this with the sensor's own timeout error; the
                # trigger's matching deadline does the same where nothing enforces it (dag.test()).
                timeout=timedelta(seconds=self.timeout),
            )
        # Pokes of one run share this instance, so activities already completed are not read again;
        # a new run (or a rescheduled poke) starts from nothing.
        self._completed = {}
        try:
            return super().execute(context)
        finally:
            self.hook.close()

    def poke(self, context: Context) -> PokeReturnValue:
        activity_ids = parse_activity_ids(self.activity_ids)
        for activity_id in activity_ids:
            if activity_id in self._completed:
                continue
            try:
                activity = self.hook.get_scheduled_activity(activity_id)
            except TRANSIENT_ERRORS as error:
                self.log.warning("Kizen did not answer this poke, waiting for the next one: %s", error)
                return PokeReturnValue(is_done=False)
            except KizenError as error:
                raise AirflowFailException(unwatchable_message(activity_id, error)) from error
            if activity.is_completed:
                self._completed[activity_id] = activity.model_dump(mode="json")
        self.log.info("%d of %d scheduled activities completed", len(self._completed), len(activity_ids))
        if len(self._completed) < len(activity_ids):
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=[self._completed[i] for i in activity_ids])

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Resume from the trigger. ``BaseSensorOperator.resume_execution`` turns a raise into a
        skip under ``soft_fail``."""
        status = event.get("status")
        if status == "success":
            activities: list[dict[str, Any]] = event["activities"]
            self.log.info("All %d scheduled activities completed", len(activities))
            return activities
        if status == "timeout":
            raise AirflowSensorTimeout(event["message"])
        if status == "error":
            raise AirflowFailException(event["message"])
        raise AirflowException(f"Unexpected event from ScheduledActivityCompletedTrigger: {event!r}")
