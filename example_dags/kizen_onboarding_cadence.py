"""Give every new customer an onboarding cadence in Kizen: a welcome call, a day-3 check-in, a day-7 review.

Every morning (and whenever someone triggers it):

1. `ensure_ledger` creates the cadence ledger if it is missing.
2. `select_new_customers` reads the customers who signed up in the last `lookback_days` days.
3. `build_cadence` makes one payload per customer and step, leaving out the steps the ledger already
   holds. Day 0 is the customer's next business day, 10:00 in their timezone, counted from now; a step
   that lands on a weekend moves to Monday. The welcome call and the review go to the customer's
   account manager (or the account manager role); the check-in goes to the onboarding role.
4. `schedule_cadence` schedules them; `record_ledger` writes them to the ledger, so the next days'
   runs over the same customers schedule nothing twice, then fails the run if Kizen refused a step.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, BaseHook, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

WAREHOUSE_CONN_ID = "kizen_warehouse"
CUSTOMERS_TABLE = "kizen_new_customers"
LEDGER_TABLE = "kizen_onboarding_ledger"
LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    record_key VARCHAR(255) NOT NULL PRIMARY KEY,
    activity_id VARCHAR(64) NOT NULL,
    due_datetime VARCHAR(40) NOT NULL
)
"""
ROLE_HELP = "A Kizen role id (GET /api/role lists them). Empty: Kizen assigns the API user."
EMAIL_DAY_BEFORE = {"type": "email", "time_amount": 1, "time_unit": "day"}
# (step, days after day 0, activity type, who, note, reminders). Add or change steps here.
CADENCE = (
    ("welcome_call", 0, "follow_up_call", "account_manager",
     "Welcome call: introduce yourself, confirm their goals and book the day-3 check-in.",
     [{"type": "text", "time_amount": 15, "time_unit": "minute"}]),
    ("day3_check_in", 3, "onboarding_check_in", "onboarding",
     "Day-3 check-in: is the account set up, and is anything blocking the first project?",
     [EMAIL_DAY_BEFORE, {"type": "text", "time_amount": 1, "time_unit": "hour"}]),
    ("day7_review", 7, "onboarding_check_in", "account_manager",
     "Day-7 review: walk through the first week's results and agree the next milestones.",
     [EMAIL_DAY_BEFORE]),
)  # fmt: skip


def warehouse() -> DbApiHook:
    return BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()


def on_a_weekday(moment: pendulum.DateTime) -> pendulum.DateTime:
    while moment.day_of_week >= pendulum.WeekDay.SATURDAY:
        moment = moment.add(days=1)
    return moment


def in_ledger(hook: DbApiHook, record_keys: list[str]) -> set[str]:
    """Which of `record_keys` already have a ledger row."""
    if not record_keys:
        return set()
    marks = ", ".join([hook.placeholder] * len(record_keys))
    sql = f"SELECT record_key FROM {LEDGER_TABLE} WHERE record_key IN ({marks})"
    return {row[0] for row in hook.get_records(sql, parameters=record_keys)}


with DAG(
    dag_id="kizen_onboarding_cadence",
    description="A welcome call, a day-3 check-in and a day-7 review in Kizen for each new customer",
    # Unpausing starts no run, so a run triggered from the form (with "unpause" ticked) is never queued
    # behind a scheduled one. run_immediately=timedelta(0): by default a trigger timetable still runs
    # the latest 06:00 when it passed less than a tenth of a day (2.4 h) ago.
    schedule=CronTriggerTimetable("0 6 * * *", timezone="UTC", run_immediately=timedelta(0)),
    # No start_date: with one, unpausing would start a run for the latest 06:00 at once.
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kizen", "example"],
    params={
        "lookback_days": Param(7, type="integer", minimum=0, maximum=90, title="Look-back (days)"),
        "account_manager_role_id": Param(None, type=["null", "string"], format="uuid", description=ROLE_HELP),
        "onboarding_role_id": Param(None, type=["null", "string"], format="uuid", description=ROLE_HELP),
    },
) as dag:
    ensure_ledger = SQLExecuteQueryOperator(
        task_id="ensure_ledger", conn_id=WAREHOUSE_CONN_ID, sql=LEDGER_DDL
    )

    @task
    def select_new_customers(params: dict[str, Any]) -> list[dict[str, Any]]:
        """Customers who signed up within `lookback_days`."""
        hook = warehouse()
        since = pendulum.now("UTC").date().subtract(days=params["lookback_days"])
        columns = ("customer_key", "contact_email", "timezone", "account_manager_id")
        rows = hook.get_records(
            f"SELECT {', '.join(columns)} FROM {CUSTOMERS_TABLE}"
            f" WHERE signed_up_on >= {hook.placeholder} ORDER BY customer_key",
            parameters=[since.isoformat()],
        )
        return [dict(zip(columns, row, strict=True)) for row in rows]

    @task
    def build_cadence(customers: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """One payload per customer and step that the ledger does not hold yet."""
        payloads = []
        for customer in customers:
            # Kizen's contacts are records of `client_client`, which may be named by email.
            contact = {
                "custom_object": {"name": "client_client"},
                "entity": {"name": customer["contact_email"]},
            }
            day_zero = on_a_weekday(pendulum.now(customer["timezone"]).add(days=1).at(10))
            manager = (
                {"employee_id": customer["account_manager_id"]}
                if customer["account_manager_id"]
                else {"role_id": params["account_manager_role_id"]}
            )
            for name, day, activity_type, who, note, reminders in CADENCE:
                assignee = {"role_id": params["onboarding_role_id"]} if who == "onboarding" else manager
                payloads.append({
                    "record_key": f"{customer['customer_key']}:{name}",
                    "activity_object_name": activity_type,
                    "due_datetime": on_a_weekday(day_zero.add(days=day)).isoformat(),
                    "note": note,
                    "notifications": reminders,
                    "associated_entities": [contact],
                    # An empty role id leaves the assignment to Kizen.
                    **{key: value for key, value in assignee.items() if value},
                })  # fmt: skip
        done = in_ledger(warehouse(), [payload["record_key"] for payload in payloads])
        return [payload for payload in payloads if payload["record_key"] not in done]

    @task
    def record_ledger(results: list[dict[str, Any]]) -> int:
        """Record what was scheduled, then fail if Kizen refused some; those are tried again next run."""
        hook = warehouse()
        scheduled = [result for result in results if result["status"] in ("created", "already_existed")]
        # A retry writes only what its first try did not.
        present = in_ledger(hook, [result["record_key"] for result in scheduled])
        rows = [
            (result["record_key"], result["activity_id"], result["activity"]["due_datetime"])
            for result in scheduled
            if result["record_key"] not in present
        ]
        if rows:
            hook.insert_rows(LEDGER_TABLE, rows, target_fields=["record_key", "activity_id", "due_datetime"])
        failed = [result for result in results if result not in scheduled]
        if failed:
            reasons = "; ".join(f"{result['record_key']}: {result['error']}" for result in failed[:20])
            raise RuntimeError(f"Kizen did not schedule {len(failed)} cadence steps: {reasons}")
        return len(rows)

    customers = select_new_customers()
    ensure_ledger >> customers
    scheduled = ScheduleActivityOperator(
        task_id="schedule_cadence",
        payload=build_cadence(customers),
        # The record key (customer and step) names each result and stays out of the request.
        dedupe_key="record_key",
        # Refused steps come back as results, so the ledger still records every success.
        fail_on_error=False,
    )
    record_ledger(scheduled.output)
