"""A DAG whose tasks create one activity and several: their lineage and their Kizen links."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

CALL = {"activity_object_name": "follow_up_call", "due_datetime": "2030-01-07T09:00:00Z"}

with DAG("operator_lineage", schedule=None):
    ScheduleActivityOperator(task_id="schedule_one", payload={**CALL, "note": "Call Ada"})
    ScheduleActivityOperator(
        task_id="schedule_many",
        payload=[
            {**CALL, "note": "Call Grace"},
            {**CALL, "note": "Call Grace"},  # the same record again: already_existed
            {**CALL, "note": "Call Alan"},
            {**CALL, "due_datetime": "not a date"},  # invalid, skipped
        ],
        skip_invalid=True,
    )
