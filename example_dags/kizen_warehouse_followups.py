"""Schedule a Kizen follow-up call for every warehouse row that needs one, exactly once.

Every morning, or when triggered: `select_followups` reads the rows with `needs_followup = 1` that
have no row in the ledger yet; `build_payloads` makes one payload per row, due the next business day
at 10:00 in the row's timezone (counted from now, so never in the past), in chunks of `chunk_size`;
`schedule_followups` schedules each chunk in its own mapped task; `record_ledger` writes what Kizen
created to the ledger, so no later run schedules the same row again. `announce_high_priority` then
updates the ledger asset with the high-priority follow-ups, which starts `kizen_followup_escalation`,
and `check_failures` fails the run if Kizen refused rows (the next run tries them again).

The SQL is portable: point the `kizen_warehouse` connection at SQLite, PostgreSQL, Snowflake...
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Asset, BaseHook, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

WAREHOUSE_CONN_ID = "kizen_warehouse"
SOURCE_TABLE = "kizen_followup_requests"
LEDGER_TABLE = "kizen_followup_ledger"
# Each update names the new high-priority follow-ups in its extra; the escalation DAG waits for it.
LEDGER = Asset("kizen_followup_ledger")
LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    record_key VARCHAR(255) NOT NULL PRIMARY KEY,
    activity_id VARCHAR(64) NOT NULL,
    due_datetime VARCHAR(40) NOT NULL,
    scheduled_at VARCHAR(40) NOT NULL,
    escalation_activity_id VARCHAR(64)
)
"""
ACTIVITY_TYPE = "follow_up_call"  # the api_name of a Kizen activity type
MAX_ROWS_HELP = "At most this many rows per run; the ledger leaves the rest for the next run."
ROLE_HELP = "The Kizen role (GET /api/role) for rows without an owner; empty: Kizen assigns the API user."
COLUMNS = ("record_key", "contact_email", "timezone", "priority", "reason", "owner_employee_id")
# ScheduleActivityOperator's statuses for a record whose activity exists in Kizen.
SCHEDULED = ("created", "already_existed")


def warehouse() -> DbApiHook:
    return BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()


def next_business_day_at_ten(timezone: str, record_key: str) -> pendulum.DateTime:
    """10:00 on the next Monday-to-Friday day in `timezone`, counted from now: never in the past."""
    try:
        day = pendulum.now(pendulum.timezone(timezone)).add(days=1).at(10)
    except ValueError as error:
        raise ValueError(f"{record_key}: timezone {timezone!r} is not an IANA timezone name") from error
    while day.day_of_week >= pendulum.WeekDay.SATURDAY:
        day = day.add(days=1)
    return day


with DAG(
    dag_id="kizen_warehouse_followups",
    description="Schedule Kizen follow-ups for warehouse rows, once each, and record them in a ledger",
    # A trigger timetable does not start a run when the DAG is unpaused, so a run triggered from the
    # form (with "unpause" ticked) is never queued behind a scheduled one.
    schedule=CronTriggerTimetable("0 6 * * *", timezone="UTC"),
    # No start_date: with one, unpausing would start a run for the latest 06:00 at once.
    catchup=False,
    # The ledger is read at the start of a run and written at the end: one run at a time.
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kizen", "example"],
    params={
        "max_rows": Param(5000, type="integer", minimum=1, title="Rows per run", description=MAX_ROWS_HELP),
        "chunk_size": Param(50, type="integer", minimum=1, maximum=1000, title="Follow-ups per mapped task"),
        "fallback_role_id": Param(
            None, type=["null", "string"], format="uuid", title="Fallback role id", description=ROLE_HELP
        ),
    },
) as dag:
    ensure_ledger = SQLExecuteQueryOperator(
        task_id="ensure_ledger", conn_id=WAREHOUSE_CONN_ID, sql=LEDGER_DDL
    )

    @task
    def select_followups(params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows needing a follow-up that have no ledger row yet."""
        rows = warehouse().get_records(
            f"SELECT {', '.join('r.' + column for column in COLUMNS)} FROM {SOURCE_TABLE} r"
            f" LEFT JOIN {LEDGER_TABLE} l ON l.record_key = r.record_key"
            f" WHERE r.needs_followup = 1 AND l.record_key IS NULL"
            f" ORDER BY r.record_key LIMIT {int(params['max_rows'])}"
        )
        return [dict(zip(COLUMNS, row, strict=True)) for row in rows]

    @task
    def build_payloads(rows: list[dict[str, Any]], params: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """One payload per row (the record key names its result), in chunks of `chunk_size`."""
        payloads = []
        for row in rows:
            email = row["contact_email"]
            if row["owner_employee_id"]:
                assignee = {"employee_id": row["owner_employee_id"]}
            else:
                assignee = {"role_id": params["fallback_role_id"]} if params["fallback_role_id"] else {}
            payloads.append(
                {
                    "record_key": row["record_key"],
                    "activity_object_name": ACTIVITY_TYPE,
                    "due_datetime": next_business_day_at_ten(row["timezone"], row["record_key"]).isoformat(),
                    "note": row["reason"],
                    # Kizen's contacts are records of `client_client`, which may be named by email.
                    "associated_entities": [
                        {"custom_object": {"name": "client_client"}, "entity": {"name": email}}
                    ],
                    "notifications": [{"type": "email", "time_amount": 1, "time_unit": "hour"}],
                    **assignee,
                }
            )
        size = params["chunk_size"]
        return [payloads[start : start + size] for start in range(0, len(payloads), size)]

    @task
    def record_ledger(results: list[dict[str, Any]]) -> int:
        """Write one chunk's activities to the ledger; a retry writes only what is missing."""
        hook = warehouse()
        mark = hook.placeholder
        columns = "record_key, activity_id, due_datetime, scheduled_at"
        # A retried task skips the rows its first try wrote.
        insert = (
            f"INSERT INTO {LEDGER_TABLE} ({columns}) SELECT {mark}, {mark}, {mark}, {mark}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {LEDGER_TABLE} WHERE record_key = {mark})"
        )
        rows = [
            (result["record_key"], result["activity_id"], result["activity"]["due_datetime"])
            for result in results
            if result["status"] in SCHEDULED
        ]
        for key, activity_id, due in rows:
            hook.run(insert, parameters=(key, activity_id, due, pendulum.now("UTC").isoformat(), key))
        return len(rows)

    @task(outlets=[LEDGER])
    def announce_high_priority(chunks: Any, rows: list[dict[str, Any]], outlet_events: Any) -> None:
        """Update the ledger asset, naming the high-priority follow-ups for the escalation DAG."""
        # Slicing reads every chunk's results in one request.
        results = [result for chunk in chunks[:] for result in chunk if result["status"] in SCHEDULED]
        activity_ids = {result["record_key"]: result["activity_id"] for result in results}
        watch = [
            {key: row[key] for key in ("record_key", "contact_email")}
            | {"activity_id": activity_ids[row["record_key"]]}
            for row in rows
            if row["priority"] == "high" and row["record_key"] in activity_ids
        ]
        outlet_events[LEDGER].extra = {"watch": watch}

    @task
    def check_failures(chunks: Any) -> None:
        """Fail the run, naming each row Kizen refused and why; the next run tries them again."""
        failed = [result for chunk in chunks[:] for result in chunk if result["status"] not in SCHEDULED]
        if failed:
            reasons = "; ".join(f"{result['record_key']}: {result['error']}" for result in failed[:20])
            raise RuntimeError(f"Kizen did not schedule {len(failed)} follow-ups: {reasons}")

    rows = select_followups()
    ensure_ledger >> rows
    scheduled = ScheduleActivityOperator.partial(
        task_id="schedule_followups",
        # The record key names each result and stays out of the request.
        dedupe_key="record_key",
        # Refused rows come back as results, so the ledger still records every success.
        fail_on_error=False,
    ).expand(payload=build_payloads(rows))
    record_ledger.expand(results=scheduled.output) >> announce_high_priority(scheduled.output, rows)
    check_failures(scheduled.output)
