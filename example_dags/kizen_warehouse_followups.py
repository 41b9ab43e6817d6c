"""Keep one Kizen follow-up call per warehouse row that needs one, in step with the row, via a ledger.

Every morning, or when triggered: `select_followups` reads the rows with `needs_followup = 1` (with
their activity id when the ledger has one; at most `max_rows` new rows); `build_payloads` makes one
payload per row, in chunks of `chunk_size`; `schedule_followups` (mapped per chunk) creates the new
rows' follow-ups and brings the others in step: a changed due time, owner or note is one PATCH of the
same activity, an unchanged row writes nothing, a completed follow-up is left alone; `record_ledger`
writes the new activities and due times to the ledger. The ledger rows whose source row is gone or
no longer needs a follow-up are cancelled in Kizen (completed ones stay: they are history) and
deleted. `announce_high_priority` names the new high-priority follow-ups in an update of the ledger
asset, which starts `kizen_followup_escalation`. `report_results` logs and returns what the run did
in Kizen, and fails the run naming each row Kizen refused (the next run tries them again).

A follow-up is due at 10:00 in the row's timezone on its `follow_up_on` date; without a date, on the
next business day from when the row was first scheduled, a due time the ledger keeps for later runs.
The SQL is portable: point the `kizen_warehouse` connection at SQLite, PostgreSQL, Snowflake...
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Asset, BaseHook, Param, task
from airflow.sdk.exceptions import AirflowSkipException
from airflow.timetables.trigger import CronTriggerTimetable

from airflow_provider_kizen.operators.scheduled_activity import (
    CancelScheduledActivitiesOperator,
    ScheduleActivityOperator,
)

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
MAX_ROWS_HELP = "At most this many new rows per run; the rest wait for the next run."
ROLE_HELP = "The Kizen role (GET /api/role) for rows without an owner; empty: Kizen assigns the API user."
COLUMNS = (
    "record_key", "contact_email", "timezone", "priority", "reason", "owner_employee_id", "follow_up_on"
)  # fmt: skip
# ScheduleActivityOperator's statuses for a row whose follow-up this run created.
NEW = ("created", "already_existed")
REPORTED = ("created", "updated", "unchanged", "completed", "cancelled", "failed")
log = logging.getLogger(__name__)


def warehouse() -> DbApiHook:
    return BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()


def due_datetime(row: dict[str, Any]) -> str:
    """10:00 in the row's timezone on its date; or the due time the ledger kept; or the next business day."""
    try:
        timezone = pendulum.timezone(row["timezone"])
    except ValueError as error:
        raise ValueError(f"{row['record_key']}: timezone {row['timezone']!r} is not an IANA name") from error
    if row["follow_up_on"]:
        # A DATE is a date on PostgreSQL and text on SQLite.
        return pendulum.from_format(str(row["follow_up_on"]), "YYYY-MM-DD", tz=timezone).at(10).isoformat()
    if row["ledger_due_datetime"]:
        return str(row["ledger_due_datetime"])
    day = pendulum.now(timezone).add(days=1).at(10)
    while day.day_of_week >= pendulum.WeekDay.SATURDAY:
        day = day.add(days=1)
    return day.isoformat()


def assignee(row: dict[str, Any], fallback_role_id: str | None) -> dict[str, Any]:
    """The owner, or else the fallback role; the other is named null, so a former one is cleared.

    With neither, nothing is named: Kizen gives a new follow-up to the API user, and a rerun must not
    take it away again.
    """
    if row["owner_employee_id"]:
        return {"employee_id": row["owner_employee_id"], "role_id": None}
    return {"employee_id": None, "role_id": fallback_role_id} if fallback_role_id else {}


with DAG(
    dag_id="kizen_warehouse_followups",
    description="Keep one Kizen follow-up per warehouse row in step with the row, through a ledger",
    # Unpausing starts no run, so a run triggered from the form (with "unpause" ticked) is never queued
    # behind a scheduled one. run_immediately=timedelta(0): by default a trigger timetable still runs
    # the latest 06:00 when it passed less than a tenth of a day (2.4 h) ago.
    schedule=CronTriggerTimetable("0 6 * * *", timezone="UTC", run_immediately=timedelta(0)),
    # No start_date: with one, unpausing would start a run for the latest 06:00 at once.
    catchup=False,
    # The ledger is read at the start of a run and written at the end: one run at a time.
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kizen", "example"],
    params={
        "max_rows": Param(
            5000, type="integer", minimum=1, title="New rows per run", description=MAX_ROWS_HELP
        ),
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
        """Every row needing a follow-up that the ledger knows, and at most `max_rows` new ones."""
        hook = warehouse()
        needed = (
            f"SELECT {', '.join('r.' + column for column in COLUMNS)}, l.activity_id, l.due_datetime"
            f" FROM {SOURCE_TABLE} r LEFT JOIN {LEDGER_TABLE} l ON l.record_key = r.record_key"
            f" WHERE r.needs_followup = 1 AND l.record_key IS"
        )
        # max_rows limits only the new rows, so a large ledger never starves them.
        rows = hook.get_records(f"{needed} NOT NULL") + hook.get_records(
            f"{needed} NULL ORDER BY r.record_key LIMIT {int(params['max_rows'])}"
        )
        return [dict(zip((*COLUMNS, "activity_id", "ledger_due_datetime"), row, strict=True)) for row in rows]

    @task
    def build_payloads(rows: list[dict[str, Any]], params: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """One payload per row (the record key names its result), in chunks of `chunk_size`."""
        payloads = [
            {
                "record_key": row["record_key"],
                # The ledger's activity id: the operator brings that activity in step instead of creating.
                "activity_id": row["activity_id"],
                "activity_object_name": ACTIVITY_TYPE,
                "due_datetime": due_datetime(row),
                "note": row["reason"],
                # Kizen's contacts are records of `client_client`, which may be named by email.
                "associated_entities": [
                    {"custom_object": {"name": "client_client"}, "entity": {"name": row["contact_email"]}}
                ],
                "notifications": [{"type": "email", "time_amount": 1, "time_unit": "hour"}],
                **assignee(row, params["fallback_role_id"]),
            }
            for row in rows
        ]
        size = params["chunk_size"]
        return [payloads[start : start + size] for start in range(0, len(payloads), size)]

    @task
    def record_ledger(results: list[dict[str, Any]]) -> None:
        """Write one chunk's new activities and new due times to the ledger; a retry inserts nothing twice."""
        hook = warehouse()
        mark = hook.placeholder
        insert = (
            f"INSERT INTO {LEDGER_TABLE} (record_key, activity_id, due_datetime, scheduled_at)"
            f" SELECT {mark}, {mark}, {mark}, {mark}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {LEDGER_TABLE} WHERE record_key = {mark})"
        )
        update = f"UPDATE {LEDGER_TABLE} SET due_datetime = {mark} WHERE record_key = {mark}"
        for result in results:
            key, due = result["record_key"], result.get("activity", {}).get("due_datetime")
            if result["status"] in NEW:
                now = pendulum.now("UTC").isoformat()
                hook.run(insert, parameters=(key, result["activity_id"], due, now, key))
            elif result["status"] == "updated":
                hook.run(update, parameters=(due, key))

    @task
    def select_cancellations() -> list[str]:
        """The activity ids of ledger rows whose source row is gone or no longer needs a follow-up."""
        rows = warehouse().get_records(
            f"SELECT l.activity_id FROM {LEDGER_TABLE} l LEFT JOIN {SOURCE_TABLE} r"
            " ON r.record_key = l.record_key WHERE r.record_key IS NULL OR r.needs_followup <> 1"
        )
        return [activity_id for (activity_id,) in rows]

    @task
    def forget_cancelled(results: list[dict[str, Any]]) -> None:
        """Delete the ledger rows of cancelled follow-ups, and of completed ones: no row wants them now."""
        hook = warehouse()
        delete = f"DELETE FROM {LEDGER_TABLE} WHERE activity_id = {hook.placeholder}"
        for result in results:
            if result["status"] in ("cancelled", "completed"):
                hook.run(delete, parameters=(result["activity_id"],))

    @task(outlets=[LEDGER])
    def announce_high_priority(chunks: Any, rows: list[dict[str, Any]], outlet_events: Any) -> None:
        """Update the ledger asset, naming the new high-priority follow-ups for the escalation DAG."""
        # Slicing reads every chunk's results in one request.
        results = [result for chunk in chunks[:] for result in chunk if result["status"] in NEW]
        activity_ids = {result["record_key"]: result["activity_id"] for result in results}
        watch = [
            {key: row[key] for key in ("record_key", "contact_email")}
            | {"activity_id": activity_ids[row["record_key"]]}
            for row in rows
            if row["priority"] == "high" and row["record_key"] in activity_ids
        ]
        if not watch:
            raise AirflowSkipException("No new high-priority follow-ups: no escalation run is needed")
        outlet_events[LEDGER].extra = {"watch": watch}

    # Runs when no row needs a follow-up too (then no chunk was scheduled), to count the cancellations.
    @task(trigger_rule="none_failed")
    def report_results(chunks: Any, cancellations: list[dict[str, Any]]) -> dict[str, int]:
        """Log and return what the run did in Kizen; fail the run naming each row Kizen refused."""
        results = [result for chunk in chunks[:] for result in chunk] + cancellations
        statuses = Counter(result["status"] for result in results)
        statuses["created"] += statuses.pop("already_existed", 0)
        statuses["failed"] += statuses.pop("invalid", 0)
        counts = {status: statuses[status] for status in REPORTED}
        log.info("Follow-ups in Kizen: %s", ", ".join(f"{n} {status}" for status, n in counts.items()))
        failed = [
            f"{result.get('record_key') or result['activity_id']}: {result['error']}"
            for result in results
            if result["status"] in ("failed", "invalid")
        ]
        if failed:
            raise RuntimeError(f"Kizen refused {len(failed)} follow-ups: {'; '.join(failed[:20])}")
        return counts

    rows = select_followups()
    removed = select_cancellations()
    ensure_ledger >> [rows, removed]
    scheduled = ScheduleActivityOperator.partial(
        task_id="schedule_followups",
        # The record key names each result and stays out of the request.
        dedupe_key="record_key",
        # Refused rows come back as results, so the ledger still records every success.
        fail_on_error=False,
    ).expand(payload=build_payloads(rows))
    record_ledger.expand(results=scheduled.output) >> announce_high_priority(scheduled.output, rows)
    cancelled = CancelScheduledActivitiesOperator(
        task_id="cancel_followups", activity_ids=removed, fail_on_error=False
    )
    forget_cancelled(cancelled.output)
    report_results(scheduled.output, cancelled.output)
