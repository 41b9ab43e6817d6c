"""DAGs for large batches under faults, and for a task that is killed mid-batch and retried."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
EMAILS = ("edsger.dijkstra@example.com", "barbara.liskov@example.com", "donald.knuth@example.com")
JORDAN = seed.EMPLOYEES[1]["id"]
SALES = seed.ROLES[2]["id"]


def batch(prefix: str, count: int) -> list[dict[str, Any]]:
    """`count` distinct payloads; no `dedupe_key`, so each record is keyed by the hash of its payload."""
    due = pendulum.datetime(2026, 6, 1, 8, tz="UTC")
    return [
        {
            "activity_object_name": "follow_up_call",
            "due_datetime": due.add(seconds=number).isoformat(),
            "note": f"{prefix} follow-up {number}",
            "associated_entities": [
                {"custom_object": {"name": "client_client"}, "entity": {"name": EMAILS[number % len(EMAILS)]}}
            ],
        }
        for number in range(count)
    ]


def hard_batch(prefix: str, count: int) -> list[dict[str, Any]]:
    """`count` records with everything the findings were about, mixed through the batch.

    A fifth is assigned to someone other than the API user (a colleague, or a role the API user does
    not hold); notes end in whitespace as a template's last line does; some records name a company
    outside ASCII, and some name a contact by email alone, without its custom object.
    """
    records = []
    for number in range(count):
        entity: dict[str, Any] = {"custom_object": {"name": "client_client"}}
        entity["entity"] = {"name": EMAILS[number % len(EMAILS)]}
        if number % 7 == 3:
            entity = {
                "custom_object": {"name": "client_company"},
                "entity": {"name": "Straßenbau Müller GmbH"},
            }
        elif number % 11 == 5:
            entity = {"entity": {"name": EMAILS[number % len(EMAILS)]}}
        record: dict[str, Any] = {
            "activity_object_name": "follow_up_call",
            "due_datetime": "2026-06-01T08:00:00+00:00" if number % 13 == 0 else _due(number),
            "note": f"{prefix} follow-up {number}" + (" \n" if number % 2 else ""),
            "associated_entities": [entity],
        }
        if number % 10 == 1:
            record["employee_id"] = JORDAN
        elif number % 10 == 6:
            record["role_id"] = SALES
        records.append(record)
    return records


def _due(number: int) -> str:
    return f"2026-06-01T{8 + number // 3600:02d}:{number // 60 % 60:02d}:{number % 60:02d}+00:00"


with DAG("operator_faults", schedule=None, start_date=START, params={"rows": 2000}):

    @task
    def build_batch(params: dict[str, Any]) -> list[dict[str, Any]]:
        return hard_batch("faults", params["rows"])

    # [START operator_batch]
    ScheduleActivityOperator(
        task_id="schedule_batch",
        payload=build_batch(),
        max_concurrency=16,
        max_requests_per_second=None,
        progress_interval=1.0,
    )
    # [END operator_batch]

with DAG("operator_retry", schedule=None, start_date=START, params={"rows": 600}):

    @task
    def build_retry_batch(params: dict[str, Any]) -> list[dict[str, Any]]:
        return batch("retry", params["rows"])

    # [START operator_retry]
    # If the worker stops this task mid-batch, the retry skips what task_state_store recorded.
    ScheduleActivityOperator(
        task_id="schedule_batch",
        payload=build_retry_batch(),
        max_concurrency=8,
        retries=1,
        retry_delay=timedelta(0),
    )
    # [END operator_retry]
