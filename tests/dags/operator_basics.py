"""DAGs that schedule Kizen activities: one literal payload, templated payloads, and XCom from upstream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
CONTACTS = ("ada.lovelace@example.com", "grace.hopper@example.com", "alan.turing@example.com")


def contact(email: str) -> dict[str, Any]:
    """A Kizen contact named by its email."""
    return {"custom_object": {"name": "client_client"}, "entity": {"name": email}}


def warehouse_rows(count: int) -> list[dict[str, Any]]:
    """`count` payloads as a warehouse would send them, each carrying its own `row_id`."""
    due = pendulum.datetime(2026, 3, 2, 9, tz="Europe/Paris")
    return [
        {
            "row_id": f"order-{number}",
            "activity_object_name": "follow_up_call",
            "due_datetime": due.add(minutes=number).isoformat(),
            "note": f"Follow up on order {number}",
            "associated_entities": [contact(CONTACTS[number % len(CONTACTS)])],
        }
        for number in range(count)
    ]


with DAG("operator_one", schedule=None, start_date=START):
    # [START operator_one]
    ScheduleActivityOperator(
        task_id="schedule_call",
        payload={
            "activity_object_name": "follow_up_call",
            "due_datetime": "2026-03-02T09:00:00+01:00",
            "note": "Renewal call",
            "associated_entities": [contact("ada.lovelace@example.com")],
            "notifications": [{"type": "email", "time_amount": 1, "time_unit": "hour"}],
        },
    )
    # [END operator_one]

with DAG(
    "operator_templated",
    schedule=None,
    start_date=START,
    params={"contact": "grace.hopper@example.com", "rows": 2},
):
    # [START operator_templated]
    # Jinja inside the dict: each string is rendered.
    ScheduleActivityOperator(
        task_id="from_dict",
        payload={
            "activity_object_name": "onboarding_check_in",
            "due_datetime": "{{ (dag_run.run_after + macros.timedelta(days=1)).isoformat() }}",
            "note": "Check in with {{ params.contact }} (run {{ run_id }})",
            "associated_entities": [
                {"custom_object": {"name": "client_client"}, "entity": {"name": "{{ params.contact }}"}}
            ],
        },
    )
    # [END operator_templated]

    @task
    def rows(params: dict[str, Any]) -> list[dict[str, Any]]:
        return warehouse_rows(params["rows"])

    # [START operator_json_text]
    # A list rendered to JSON text is parsed back.
    rows() >> ScheduleActivityOperator(
        task_id="from_json_text",
        payload="{{ ti.xcom_pull(task_ids='rows') | tojson }}",
        dedupe_key="row_id",
    )
    # [END operator_json_text]

with DAG(
    "operator_native",
    schedule=None,
    start_date=START,
    render_template_as_native_obj=True,
    params={"rows": 2},
):

    @task
    def native_rows(params: dict[str, Any]) -> list[dict[str, Any]]:
        return warehouse_rows(params["rows"])

    # [START operator_native]
    # With render_template_as_native_obj=True, the template renders to the list itself.
    native_rows() >> ScheduleActivityOperator(
        task_id="schedule_native",
        payload="{{ ti.xcom_pull(task_ids='native_rows') }}",
        dedupe_key="row_id",
    )
    # [END operator_native]

with DAG("operator_xcom", schedule=None, start_date=START, params={"rows": 3}):
    # [START operator_xcom]
    @task
    def build_payloads(params: dict[str, Any]) -> list[dict[str, Any]]:
        return warehouse_rows(params["rows"])

    scheduled = ScheduleActivityOperator(
        task_id="schedule_followups",
        payload=build_payloads(),
        # `row_id` is not a Kizen field: it names each record, and is removed before sending.
        dedupe_key="row_id",
        max_concurrency=8,
        execution_timeout=timedelta(minutes=10),
    )

    @task
    def count_scheduled(activity_ids: list[str]) -> int:
        return len(activity_ids)

    count_scheduled(scheduled.output["activity_ids"])
    # [END operator_xcom]
