"""A DAG that cancels scheduled activities given as JSON text, as one id, and through XCom."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kizen.operators.cancel import CancelScheduledActivitiesOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("operator_cancel", schedule=None, start_date=START, params={"ids": [], "one": ""}):
    # [START operator_cancel]
    # A list rendered to JSON text; a completed activity is left alone and reported.
    from_json_text = CancelScheduledActivitiesOperator(
        task_id="from_json_text", activity_ids="{{ params.ids | tojson }}"
    )
    # One id.
    one_id = CancelScheduledActivitiesOperator(task_id="one_id", activity_ids="{{ params.one }}")

    @task
    def ids_to_cancel(params: dict[str, Any]) -> list[str]:
        return list(params["ids"])

    # A list from an upstream task.
    from_xcom = CancelScheduledActivitiesOperator(task_id="from_xcom", activity_ids=ids_to_cancel())
    # [END operator_cancel]
    from_json_text >> one_id >> from_xcom
