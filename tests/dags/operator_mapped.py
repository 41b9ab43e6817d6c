"""DAGs that spread scheduling over mapped task instances: one per record, and one per chunk."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def payload(number: int) -> dict[str, Any]:
    return {
        "row_id": f"mapped-{number}",
        "activity_object_name": "proposal_review",
        "due_datetime": pendulum.datetime(2026, 4, 1, 15, tz="UTC").add(hours=number).isoformat(),
        "note": f"Review proposal {number}",
        "associated_entities": [
            {"custom_object": {"name": "client_client"}, "entity": {"name": "katherine.johnson@example.com"}}
        ],
    }


with DAG("operator_mapped", schedule=None, start_date=START, params={"rows": 3, "chunk_size": 2}):

    @task
    def one_per_record(params: dict[str, Any]) -> list[dict[str, Any]]:
        return [payload(number) for number in range(params["rows"])]

    @task
    def chunks(params: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [payload(100 + number) for number in range(params["rows"])]
        size = params["chunk_size"]
        return [{"payload": rows[start : start + size]} for start in range(0, len(rows), size)]

    # [START operator_mapped]
    # One mapped task instance per record: each returns a list of one result.
    ScheduleActivityOperator.partial(task_id="per_record", dedupe_key="row_id").expand(
        payload=one_per_record()
    )
    # One per chunk, with any operator argument per chunk: each returns its list of results.
    ScheduleActivityOperator.partial(task_id="per_chunk", dedupe_key="row_id").expand_kwargs(chunks())
    # [END operator_mapped]
