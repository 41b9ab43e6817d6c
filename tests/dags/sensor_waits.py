"""DAGs that wait for Kizen scheduled activities, one per sensor mode; the ids come from the run conf."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator
from airflow_provider_kizen.sensors.scheduled_activity import ScheduledActivityCompletedSensor

# A retry would hide whether a failure was final, so every task may retry once, at once.
DEFAULT_ARGS = {"retries": 1, "retry_delay": timedelta(0)}
PARAMS = {"activity_ids": []}

with DAG("sensor_poke", schedule=None, params=PARAMS, default_args=DEFAULT_ARGS):
    # Rendered without native objects, the list param arrives as the string "['id', ...]".
    ScheduledActivityCompletedSensor(
        task_id="wait", activity_ids="{{ params.activity_ids }}", mode="poke", poke_interval=0.2, timeout=30
    )

with DAG("sensor_reschedule", schedule=None, params=PARAMS, default_args=DEFAULT_ARGS):
    ScheduledActivityCompletedSensor(
        task_id="wait",
        activity_ids="{{ params.activity_ids }}",
        mode="reschedule",
        poke_interval=1,
        timeout=30,
    )

with DAG(
    "sensor_deferrable",
    schedule=None,
    params=PARAMS,
    default_args=DEFAULT_ARGS,
    render_template_as_native_obj=True,
):
    ScheduledActivityCompletedSensor(
        task_id="wait",
        activity_ids="{{ params.activity_ids }}",
        deferrable=True,
        poke_interval=0.2,
        timeout=30,
    )

with DAG("sensor_timeout", schedule=None, params=PARAMS, default_args=DEFAULT_ARGS):
    for mode in ("poke", "deferrable"):
        for soft_fail in (False, True):
            ScheduledActivityCompletedSensor(
                task_id=f"{mode}_{'soft' if soft_fail else 'strict'}",
                activity_ids="{{ params.activity_ids }}",
                deferrable=mode == "deferrable",
                poke_interval=0.2,
                timeout=1,
                soft_fail=soft_fail,
            )

with DAG("sensor_after_operator", schedule=None, default_args=DEFAULT_ARGS):
    schedule = ScheduleActivityOperator(
        task_id="schedule",
        payload=[
            {"activity_object_name": "follow_up_call", "due_datetime": "2030-01-07T09:00:00Z", "note": note}
            for note in ("Call Ada about the renewal", "Call Grace about the onboarding")
        ],
    )
    ScheduledActivityCompletedSensor(
        task_id="wait",
        activity_ids=schedule.output["activity_ids"],
        deferrable=True,
        poke_interval=0.2,
        timeout=30,
    )

# Two waits in the triggerer at once, for the distributed test that kills their triggerer: `wait` for
# activities that get completed, and `wait_past_deadline` for ones that never are, whose deadline is
# short enough to pass while no triggerer runs its trigger. No retries: a retry would restart the clock.
with DAG(
    "sensor_failover",
    schedule=None,
    params={"activity_ids": [], "overdue_ids": []},
    render_template_as_native_obj=True,
):
    ScheduledActivityCompletedSensor(
        task_id="wait",
        activity_ids="{{ params.activity_ids }}",
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )
    ScheduledActivityCompletedSensor(
        task_id="wait_past_deadline",
        activity_ids="{{ params.overdue_ids }}",
        deferrable=True,
        poke_interval=1,
        timeout=15,
        soft_fail=True,
    )
