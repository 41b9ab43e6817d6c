"""A DAG whose payload list holds invalid records: one task refuses the batch, one skips them."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

PAYLOADS = [
    {
        "row_id": "ok-1",
        "activity_object_name": "follow_up_call",
        "due_datetime": "2026-05-04T10:00:00Z",
        "note": "Valid",
    },
    # No due_datetime, and a misspelt field.
    {"row_id": "bad-1", "activity_object_name": "follow_up_call", "notes": "typo"},
    # A naive due time, and no key.
    {"activity_object_name": "follow_up_call", "due_datetime": "2026-05-04T10:00:00"},
    {
        "row_id": "ok-2",
        "activity_object_name": "follow_up_call",
        "due_datetime": "2026-05-04T11:00:00Z",
        "note": "Valid too",
    },
]

with DAG("operator_invalid", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    # [START operator_invalid]
    # Default: any invalid record fails the task before anything is sent.
    ScheduleActivityOperator(task_id="refuse_batch", payload=PAYLOADS, dedupe_key="row_id")
    # skip_invalid=True: invalid records are reported (status "invalid"), the rest are sent.
    ScheduleActivityOperator(task_id="skip_invalid", payload=PAYLOADS, dedupe_key="row_id", skip_invalid=True)
    # plan_only=True: validate and log, send nothing, return what would be sent ("would_create").
    ScheduleActivityOperator(
        task_id="plan_only", payload=PAYLOADS, dedupe_key="row_id", skip_invalid=True, plan_only=True
    )
    # [END operator_invalid]
