"""Schedule Kizen follow-up calls for the warehouse rows that need one, once each, and chase the urgent ones.

Every day:

1. `ensure_ledger` creates the ledger table if it is missing (common.sql).
2. `select_followups` reads the rows with `needs_followup = 1` that have no ledger row yet, at most
   `max_rows` of them (the rest wait for the next run).
3. `build_payloads` turns each row into a Kizen payload, due the next business day at 10:00 in the
   row's own timezone, and cuts them into chunks of `chunk_size`.
4. `schedule_followups` schedules each chunk in its own mapped task instance, so chunks spread
   over the workers and a retry only repeats its own chunk.
5. `record_ledger` writes (record key, activity id, due time) back to the warehouse for each chunk,
   so no later run schedules the same follow-up again. `check_failures` fails the run, after
   everything else is recorded, when Kizen refused some rows; those rows are retried next run.
6. `wait_for_high_priority` waits in the triggerer for the high-priority activities to be completed.
   If they are not completed within `completion_timeout_seconds`, it is skipped (soft fail) and
   `route_overdue` takes the escalation branch: a follow-up for the escalation role, and the
   escalation's id in the ledger.

The SQL is portable and takes values through the hook's placeholder: it runs unchanged on SQLite (the
default `kizen_warehouse` connection) and PostgreSQL. To use another warehouse (Snowflake, Redshift,
BigQuery...), point `warehouse_conn_id` at its connection; docs/examples.md has the details.
"""

# Airflow's typing cannot say that a task called in a DAG takes XComArgs for its arguments:
# mypy: disable-error-code="arg-type"

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param, task

from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator
from airflow_provider_kizen.sensors.scheduled_activity import ScheduledActivityCompletedSensor
from example_dags.kizen_example_support import (
    ACCOUNT_MANAGER_ROLE_ID,
    CUSTOMER_SUCCESS_ROLE_ID,
    LEDGER_DDL,
    SCHEDULED_STATUSES,
    TABLE_NAME_PATTERN,
    chunked,
    contact_entity,
    flatten_mapped,
    next_business_day_at,
    query_dicts,
    raise_for_failures,
    record_escalation,
    table_name,
    warehouse_hook,
    write_ledger,
)

HIGH_PRIORITY = "high"

with DAG(
    dag_id="kizen_warehouse_followups",
    description="Schedule Kizen follow-ups for warehouse rows, keep a ledger, escalate overdue urgent ones",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # The ledger is read at the start and written later in the run; two runs at once could both
    # select the same rows.
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kizen", "example"],
    params={
        "warehouse_conn_id": Param(
            "kizen_warehouse",
            type="string",
            minLength=1,
            title="Warehouse connection",
            description="A common.sql connection: SQLite, PostgreSQL, Snowflake, Redshift, BigQuery...",
        ),
        "source_table": Param(
            "kizen_followup_requests",
            type="string",
            pattern=TABLE_NAME_PATTERN,
            title="Source table",
            description="Rows that may need a follow-up (table or schema.table).",
        ),
        "ledger_table": Param(
            "kizen_followup_ledger",
            type="string",
            pattern=TABLE_NAME_PATTERN,
            title="Ledger table",
            description="Where each scheduled follow-up is recorded; created when missing.",
        ),
        "activity_type": Param(
            "follow_up_call",
            type="string",
            minLength=1,
            title="Activity type",
            description="The api_name of the Kizen activity type to schedule.",
        ),
        "max_rows": Param(
            5000,
            type="integer",
            minimum=1,
            title="Rows per run",
            description="At most this many rows per run; the ledger leaves the rest for the next run.",
        ),
        "chunk_size": Param(
            50,
            type="integer",
            minimum=1,
            maximum=1000,
            title="Chunk size",
            description="Payloads per mapped scheduling task.",
        ),
        "fallback_role_id": Param(
            ACCOUNT_MANAGER_ROLE_ID,
            type="string",
            format="uuid",
            title="Fallback role",
            description="Kizen role that gets the follow-ups of rows without an owner.",
        ),
        "escalation_role_id": Param(
            CUSTOMER_SUCCESS_ROLE_ID,
            type="string",
            format="uuid",
            title="Escalation role",
            description="Kizen role that gets an escalation when a high-priority follow-up is overdue.",
        ),
        "completion_timeout_seconds": Param(
            4 * 3600,
            type="integer",
            minimum=1,
            title="Completion deadline (seconds)",
            description="How long to wait for the high-priority follow-ups before escalating.",
        ),
        "poke_interval_seconds": Param(
            300,
            type="integer",
            minimum=1,
            title="Poll interval (seconds)",
            description="How often the triggerer asks Kizen whether they are completed.",
        ),
    },
) as dag:
    ensure_ledger = SQLExecuteQueryOperator(
        task_id="ensure_ledger",
        conn_id="{{ params.warehouse_conn_id }}",
        sql=LEDGER_DDL.format(table="{{ params.ledger_table }}"),
    )

    @task
    def select_followups(**context: Any) -> list[dict[str, Any]]:
        """The rows needing a follow-up that have no ledger row yet."""
        params = context["params"]
        source = table_name(params["source_table"])
        ledger = table_name(params["ledger_table"])
        return query_dicts(
            warehouse_hook(params["warehouse_conn_id"]),
            f"""
            SELECT r.record_key, r.contact_email, r.timezone, r.priority, r.reason, r.owner_employee_id
            FROM {source} r
            LEFT JOIN {ledger} l ON l.record_key = r.record_key
            WHERE r.needs_followup = 1 AND l.record_key IS NULL
            ORDER BY r.record_key
            LIMIT {int(params["max_rows"])}
            """,
        )

    @task
    def build_payloads(rows: list[dict[str, Any]], **context: Any) -> list[list[dict[str, Any]]]:
        """Kizen payloads, in chunks of `chunk_size`.

        Due times count from the run's `run_after`, so a retried task computes the same ones.
        """
        params = context["params"]
        run_after = context["dag_run"].run_after
        payloads = []
        for row in rows:
            due = next_business_day_at(run_after, row["timezone"], record=row["record_key"])
            assignee = (
                {"employee_id": row["owner_employee_id"]}
                if row["owner_employee_id"]
                else {"role_id": params["fallback_role_id"]}
            )
            payloads.append(
                {
                    "record_key": row["record_key"],
                    "activity_object_name": params["activity_type"],
                    "due_datetime": due.isoformat(),
                    "note": row["reason"],
                    "associated_entities": [contact_entity(row["contact_email"])],
                    "notifications": [{"type": "email", "time_amount": 1, "time_unit": "hour"}],
                    **assignee,
                }
            )
        return chunked(payloads, params["chunk_size"])

    @task
    def record_ledger(results: list[dict[str, Any]], **context: Any) -> int:
        """Write one chunk's scheduled activities to the ledger."""
        params = context["params"]
        hook = warehouse_hook(params["warehouse_conn_id"])
        return write_ledger(hook, params["ledger_table"], results, context["dag_run"].run_after)

    @task
    def check_failures(chunks: list[list[dict[str, Any]]]) -> None:
        """Fail the run if Kizen refused rows. They have no ledger row, so the next run tries them again."""
        raise_for_failures(flatten_mapped(chunks))

    @task
    def pick_high_priority(
        chunks: list[list[dict[str, Any]]], rows: list[dict[str, Any]]
    ) -> list[dict[str, str]]:
        """The scheduled high-priority follow-ups: record key, contact email and activity id."""
        activity_ids = {
            result["record_key"]: result["activity_id"]
            for result in flatten_mapped(chunks)
            if result["status"] in SCHEDULED_STATUSES
        }
        return [
            {
                "record_key": row["record_key"],
                "contact_email": row["contact_email"],
                "activity_id": activity_ids[row["record_key"]],
            }
            for row in rows
            if row["priority"] == HIGH_PRIORITY and row["record_key"] in activity_ids
        ]

    @task
    def wait_arguments(watched: list[dict[str, str]], **context: Any) -> list[dict[str, Any]]:
        """The sensor's arguments, or none at all (so it is skipped) when there is nothing to watch.

        Mapping the sensor over this lets its deadline come from the run's params.
        """
        params = context["params"]
        if not watched:
            return []
        return [
            {
                "activity_ids": [row["activity_id"] for row in watched],
                "timeout": params["completion_timeout_seconds"],
                "poke_interval": params["poke_interval_seconds"],
            }
        ]

    @task(trigger_rule="none_failed_min_one_success")
    def find_overdue(watched: list[dict[str, str]]) -> list[dict[str, str]]:
        """The watched follow-ups that are still not completed."""
        hook = KizenHook()
        try:
            return [
                row for row in watched if not hook.get_scheduled_activity(row["activity_id"]).is_completed
            ]
        finally:
            hook.close()

    @task.branch
    def route_overdue(overdue: list[dict[str, str]]) -> str:
        return "build_escalations" if overdue else "no_escalation_needed"

    @task
    def build_escalations(overdue: list[dict[str, str]], **context: Any) -> list[dict[str, Any]]:
        """One escalation per overdue follow-up, for the escalation role, due within the hour.

        The deadline has just passed, hours after the run started, so the due time counts from now.
        """
        params = context["params"]
        due = pendulum.now("UTC").add(hours=1)
        return [
            {
                "record_key": f"escalation:{row['record_key']}",
                "activity_object_name": params["activity_type"],
                "due_datetime": due.isoformat(),
                "note": (
                    f"Escalation: the high-priority follow-up with {row['contact_email']} "
                    f"(activity {row['activity_id']}, record {row['record_key']}) was not completed in time."
                ),
                "role_id": params["escalation_role_id"],
                "associated_entities": [contact_entity(row["contact_email"])],
                "notifications": [{"type": "text", "time_amount": 15, "time_unit": "minute"}],
            }
            for row in overdue
        ]

    @task
    def record_escalations(results: list[dict[str, Any]], **context: Any) -> int:
        """Put each escalation's activity id on its follow-up's ledger row."""
        params = context["params"]
        hook = warehouse_hook(params["warehouse_conn_id"])
        for result in results:
            record_key = result["record_key"].removeprefix("escalation:")
            record_escalation(hook, params["ledger_table"], record_key, result["activity_id"])
        return len(results)

    rows = select_followups()
    ensure_ledger >> rows
    scheduled = ScheduleActivityOperator.partial(
        task_id="schedule_followups",
        # The record key is warehouse metadata: it names each result and is not sent to Kizen.
        dedupe_key="record_key",
        fail_on_error=False,
        max_concurrency=4,
    ).expand(payload=build_payloads(rows))
    ledgered = record_ledger.expand(results=scheduled.output)
    check_failures(scheduled.output)

    watched = pick_high_priority(scheduled.output, rows)
    # Escalations are written onto ledger rows, so every chunk's rows must exist first.
    ledgered >> watched
    wait = ScheduledActivityCompletedSensor.partial(
        task_id="wait_for_high_priority",
        deferrable=True,
        # Past the deadline the sensor is skipped, not failed: being late is the escalation path.
        soft_fail=True,
    ).expand_kwargs(wait_arguments(watched))
    overdue = find_overdue(watched)
    wait >> overdue
    escalation_payloads = build_escalations(overdue)
    route_overdue(overdue) >> [escalation_payloads, EmptyOperator(task_id="no_escalation_needed")]
    escalations = ScheduleActivityOperator(
        task_id="schedule_escalations", payload=escalation_payloads, dedupe_key="record_key"
    )
    record_escalations(escalations.output)
