"""Bounded noise: a batch of thousands of invalid records, and a small batch logged record by record."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

# Every one has a due time given as a number, which would have been read as a Unix timestamp.
INVALID = [
    {"row_id": f"bad-{n}", "activity_object_name": "follow_up_call", "due_datetime": 20270901}
    for n in range(5000)
]
SMALL = [
    {
        "row_id": f"small-{n}",
        "activity_object_name": "follow_up_call",
        "due_datetime": f"2026-06-0{n + 1}T09:00:00+02:00",
        "note": f"Private note for ada.lovelace@example.com number {n}",
    }
    for n in range(3)
]

with DAG("operator_noise", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    ScheduleActivityOperator(task_id="many_invalid", payload=INVALID, dedupe_key="row_id")
    ScheduleActivityOperator(task_id="small_batch", payload=SMALL, dedupe_key="row_id")
