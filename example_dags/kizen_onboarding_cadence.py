"""Give every new customer an onboarding cadence in Kizen: a welcome call, a day-3 check-in, a day-7 review.

Every day:

1. `ensure_ledger` creates the cadence ledger if it is missing (common.sql).
2. `select_new_customers` reads the customers who signed up in the last `lookback_days` days.
3. `build_cadence` makes one payload per customer and step, leaving out the steps the ledger
   already holds. Day 0 is the customer's next business day (10:00 in their timezone); a step that
   lands on a weekend moves to Monday. Each step has its own email/text reminders (`notifications`).
   The welcome call and the review go to the customer's account manager (an employee), or to the
   account manager role when the customer has none; the check-in goes to the onboarding role.
4. `schedule_cadence` schedules them with `ScheduleActivityOperator`.
5. `record_ledger` writes (record key, activity id, due time) back, one row per customer and step, so
   a rerun, or the next days' runs over the same customers, schedule nothing twice. Then it fails
   the run if Kizen refused some steps; having no ledger row, they are tried again next run.
"""

# Airflow's typing cannot say that a task called in a DAG takes XComArgs for its arguments:
# mypy: disable-error-code="arg-type"

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Param, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator
from example_dags.kizen_example_support import (
    ACCOUNT_MANAGER_ROLE_ID,
    CUSTOMER_SUCCESS_ROLE_ID,
    LEDGER_DDL,
    TABLE_NAME_PATTERN,
    contact_entity,
    existing_ledger_keys,
    next_business_day_at,
    query_dicts,
    raise_for_failures,
    skip_weekend,
    table_name,
    warehouse_hook,
    write_ledger,
)


@dataclass(frozen=True)
class CadenceStep:
    """One activity of the cadence, `day` days after day 0."""

    name: str
    day: int
    activity_type: str
    assign_to: Literal["account_manager", "onboarding_team"]
    note: str
    notifications: tuple[dict[str, Any], ...]


CADENCE = (
    CadenceStep(
        name="welcome_call",
        day=0,
        activity_type="follow_up_call",
        assign_to="account_manager",
        note="Welcome call: introduce yourself, confirm their goals and book the day-3 check-in.",
        notifications=({"type": "text", "time_amount": 15, "time_unit": "minute"},),
    ),
    CadenceStep(
        name="day3_check_in",
        day=3,
        activity_type="onboarding_check_in",
        assign_to="onboarding_team",
        note="Day-3 check-in: is the account set up, and is anything blocking the first project?",
        notifications=(
            {"type": "email", "time_amount": 1, "time_unit": "day"},
            {"type": "text", "time_amount": 1, "time_unit": "hour"},
        ),
    ),
    CadenceStep(
        name="day7_review",
        day=7,
        activity_type="onboarding_check_in",
        assign_to="account_manager",
        note="Day-7 review: walk through the first week's results and agree the next milestones.",
        notifications=({"type": "email", "time_amount": 1, "time_unit": "day"},),
    ),
)

with DAG(
    dag_id="kizen_onboarding_cadence",
    description="A welcome call, a day-3 check-in and a day-7 review in Kizen for each new customer",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
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
        "customers_table": Param(
            "kizen_new_customers",
            type="string",
            pattern=TABLE_NAME_PATTERN,
            title="Customers table",
            description="New customers, one row each, with the date they signed up (signed_up_on).",
        ),
        "ledger_table": Param(
            "kizen_onboarding_ledger",
            type="string",
            pattern=TABLE_NAME_PATTERN,
            title="Ledger table",
            description="One row per customer and scheduled step; created when missing.",
        ),
        "lookback_days": Param(
            7,
            type="integer",
            minimum=0,
            maximum=90,
            title="Look-back (days)",
            description="Customers who signed up this many days before the run, or since, get the cadence.",
        ),
        "account_manager_role_id": Param(
            ACCOUNT_MANAGER_ROLE_ID,
            type="string",
            format="uuid",
            title="Account manager role",
            description="Gets the welcome call and review of customers without an account manager.",
        ),
        "onboarding_role_id": Param(
            CUSTOMER_SUCCESS_ROLE_ID,
            type="string",
            format="uuid",
            title="Onboarding role",
            description="Gets every day-3 check-in.",
        ),
    },
) as dag:
    ensure_ledger = SQLExecuteQueryOperator(
        task_id="ensure_ledger",
        conn_id="{{ params.warehouse_conn_id }}",
        sql=LEDGER_DDL.format(table="{{ params.ledger_table }}"),
    )

    @task
    def select_new_customers(**context: Any) -> list[dict[str, Any]]:
        """Customers who signed up within `lookback_days` of the run."""
        params = context["params"]
        hook = warehouse_hook(params["warehouse_conn_id"])
        since = pendulum.instance(context["dag_run"].run_after).in_timezone("UTC").date()
        since = since.subtract(days=params["lookback_days"])
        return query_dicts(
            hook,
            f"""
            SELECT customer_key, contact_email, timezone, account_manager_id
            FROM {table_name(params["customers_table"])}
            WHERE signed_up_on >= {hook.placeholder}
            ORDER BY customer_key
            """,
            [since.isoformat()],
        )

    @task
    def build_cadence(customers: list[dict[str, Any]], **context: Any) -> list[dict[str, Any]]:
        """One payload per customer and step that the ledger does not hold yet."""
        params = context["params"]
        run_after = context["dag_run"].run_after
        payloads = []
        for customer in customers:
            day_zero = next_business_day_at(run_after, customer["timezone"], record=customer["customer_key"])
            for step in CADENCE:
                if step.assign_to == "onboarding_team":
                    assignee = {"role_id": params["onboarding_role_id"]}
                elif customer["account_manager_id"]:
                    assignee = {"employee_id": customer["account_manager_id"]}
                else:
                    assignee = {"role_id": params["account_manager_role_id"]}
                payloads.append(
                    {
                        "record_key": f"{customer['customer_key']}:{step.name}",
                        "activity_object_name": step.activity_type,
                        "due_datetime": skip_weekend(day_zero.add(days=step.day)).isoformat(),
                        "note": step.note,
                        "notifications": list(step.notifications),
                        "associated_entities": [contact_entity(customer["contact_email"])],
                        **assignee,
                    }
                )
        hook = warehouse_hook(params["warehouse_conn_id"])
        done = existing_ledger_keys(hook, params["ledger_table"], [p["record_key"] for p in payloads])
        return [payload for payload in payloads if payload["record_key"] not in done]

    @task
    def record_ledger(results: list[dict[str, Any]], **context: Any) -> int:
        """Record what was scheduled, then fail if Kizen refused some; those are tried again next run."""
        params = context["params"]
        hook = warehouse_hook(params["warehouse_conn_id"])
        written = write_ledger(hook, params["ledger_table"], results, context["dag_run"].run_after)
        raise_for_failures(results)
        return written

    customers = select_new_customers()
    ensure_ledger >> customers
    scheduled = ScheduleActivityOperator(
        task_id="schedule_cadence",
        payload=build_cadence(customers),
        # The record key (customer and step) names each result and is not sent to Kizen.
        dedupe_key="record_key",
        # Per-record failures come back as results, so the ledger still records every success.
        fail_on_error=False,
    )
    record_ledger(scheduled.output)
