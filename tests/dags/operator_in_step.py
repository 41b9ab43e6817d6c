"""A DAG that keeps Kizen in step with warehouse rows: plan; create, reschedule and re-note; cancel."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kizen.operators.scheduled_activity import (
    CancelScheduledActivitiesOperator,
    ScheduleActivityOperator,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("operator_in_step", schedule=None, start_date=START, params={"rows": [], "removed": []}):

    @task
    def plan_rows(params: dict[str, Any]) -> list[dict[str, Any]]:
        return list(params["rows"])

    planned = ScheduleActivityOperator(
        task_id="plan",
        payload=plan_rows(),
        dedupe_key="row_id",
        activity_id_key="activity_id",
        plan_only=True,
        fail_on_error=False,  # a plan reports what would fail; the sync decides
    )

    # [START operator_in_step]
    @task
    def warehouse_rows(params: dict[str, Any]) -> list[dict[str, Any]]:
        # Rows already scheduled carry their activity's id under `activity_id`, e.g. from a ledger
        # table that keeps row_id -> activity_id; new rows have none.
        return list(params["rows"])

    @task
    def removed_activity_ids(params: dict[str, Any]) -> list[str]:
        # Activity ids of rows that left the source since the last run.
        return list(params["removed"])

    synced = ScheduleActivityOperator(
        task_id="sync",
        payload=warehouse_rows(),
        dedupe_key="row_id",
        activity_id_key="activity_id",
    )
    cancelled = CancelScheduledActivitiesOperator(
        task_id="cancel_removed", activity_ids=removed_activity_ids()
    )
    synced >> cancelled
    # [END operator_in_step]
    planned >> synced  # the plan reads Kizen as it was before the sync
