"""The same records scheduled two ways: one mapped HttpOperator task per record, and one batched task.

`kizen_http` is an `http` connection whose extra carries Kizen's three headers (what a hand-written
DAG uses); `kizen_default` is the provider's `kizen` connection. Both point at the emulator.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

RECORDS = int(os.environ.get("KIZEN_BENCHMARK_RECORDS", "200"))
START = datetime(2026, 1, 1, tzinfo=UTC)


def rows(offset: int) -> list[dict[str, Any]]:
    due = datetime(2027, 3, 1, 9, tzinfo=UTC)
    return [
        {
            "activity_object_name": "follow_up_call",
            "due_datetime": (due + timedelta(minutes=number)).isoformat(),
            "note": f"Follow up on order {number}",
            "associated_entities": [
                {"custom_object": {"name": "client_client"}, "entity": {"name": "ada.lovelace@example.com"}}
            ],
        }
        for number in range(offset, offset + RECORDS)
    ]


with DAG("benchmark_mapped_http", schedule=None, start_date=START):

    @task
    def bodies() -> list[str]:
        return [json.dumps(row) for row in rows(0)]

    HttpOperator.partial(
        task_id="create_activity",
        http_conn_id="kizen_http",
        endpoint="/api/activities/scheduled-activity",
        method="POST",
        log_response=False,
    ).expand(data=bodies())


with DAG("benchmark_batched_kizen", schedule=None, start_date=START):

    @task
    def payloads() -> list[dict[str, Any]]:
        return rows(RECORDS)

    ScheduleActivityOperator(task_id="create_activities", payload=payloads(), max_concurrency=16)
