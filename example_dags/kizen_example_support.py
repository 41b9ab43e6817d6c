"""What the Kizen example DAGs share: warehouse access, the ledger, due-time arithmetic, payload parts.

The warehouse is any database with a common.sql ``DbApiHook`` (SQLite, PostgreSQL, Snowflake, Redshift,
BigQuery...). Only portable SQL is used, and parameters go through the hook's own placeholder, so the
same statements run everywhere.
"""

# Airflow's typing cannot say that a task called in a DAG takes XComArgs for its arguments:
# mypy: disable-error-code="arg-type"

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from datetime import datetime
from typing import Any, TypeVar

import pendulum
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException

T = TypeVar("T")

# Table names are written into SQL text, so params holding them must match this (optionally
# schema-qualified) identifier pattern; `table_name()` checks it again where the SQL is built.
TABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"

# Kizen's contacts are the records of the custom object `client_client`; an entity may be named by email.
CONTACTS_OBJECT_NAME = "client_client"

# The ledger: which record got which Kizen activity. A row exists once the activity exists in Kizen,
# so selecting "rows without a ledger row" never schedules the same follow-up twice.
LEDGER_COLUMNS = ("record_key", "activity_id", "due_datetime", "scheduled_at")
LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    record_key VARCHAR(255) NOT NULL PRIMARY KEY,
    activity_id VARCHAR(64) NOT NULL,
    due_datetime VARCHAR(40) NOT NULL,
    scheduled_at VARCHAR(40) NOT NULL,
    escalation_activity_id VARCHAR(64)
)
"""

# Results of ScheduleActivityOperator whose activity exists in Kizen.
SCHEDULED_STATUSES = frozenset({"created", "already_existed"})
# The largest IN list sent in one statement.
_IN_LIST_SIZE = 500


def table_name(value: str) -> str:
    """Return `value` if it is a plain or schema-qualified table name; it is about to become SQL text."""
    if not re.fullmatch(TABLE_NAME_PATTERN, value):
        raise ValueError(f"{value!r} is not a table name (letters, digits and _, optionally schema.table)")
    return value


def warehouse_hook(conn_id: str) -> DbApiHook:
    """The common.sql hook of the warehouse connection `conn_id`."""
    hook = BaseHook.get_connection(conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise TypeError(
            f"Connection {conn_id!r} must be a SQL database (a common.sql DbApiHook), "
            f"but its hook is {type(hook).__name__}"
        )
    return hook


def query_dicts(hook: DbApiHook, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run one SELECT and return its rows as dicts keyed by column name."""
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
        cursor.execute(sql, tuple(parameters))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def ensure_ledger(hook: DbApiHook, ledger_table: str) -> None:
    hook.run(LEDGER_DDL.format(table=table_name(ledger_table)))


def existing_ledger_keys(hook: DbApiHook, ledger_table: str, record_keys: Sequence[str]) -> set[str]:
    """Which of `record_keys` already have a ledger row."""
    found: set[str] = set()
    for batch in chunked(record_keys, _IN_LIST_SIZE):
        marks = ", ".join([hook.placeholder] * len(batch))
        sql = f"SELECT record_key FROM {table_name(ledger_table)} WHERE record_key IN ({marks})"
        found.update(row["record_key"] for row in query_dicts(hook, sql, batch))
    return found


def write_ledger(
    hook: DbApiHook, ledger_table: str, results: Iterable[Mapping[str, Any]], scheduled_at: datetime
) -> int:
    """Add a ledger row for every result of ScheduleActivityOperator whose activity exists in Kizen.

    Returns the number of rows written. Failed and invalid results get no row, so the next run tries
    them again. Rows already in the ledger are left alone, so a retried task writes only what is missing.
    """
    stamp = pendulum.instance(scheduled_at).in_timezone("UTC").isoformat()
    scheduled = [result for result in results if result["status"] in SCHEDULED_STATUSES]
    present = existing_ledger_keys(hook, ledger_table, [result["record_key"] for result in scheduled])
    rows = [
        (result["record_key"], result["activity_id"], result["activity"]["due_datetime"], stamp)
        for result in scheduled
        if result["record_key"] not in present
    ]
    if rows:
        hook.insert_rows(table_name(ledger_table), rows, target_fields=list(LEDGER_COLUMNS))
    return len(rows)


def flatten_mapped(chunks: Sequence[Sequence[T]]) -> list[T]:
    """The items of a mapped task's results, in map-index order.

    A task receives a mapped task's results as Airflow's lazy sequence. Slicing it reads them all in
    one request; iterating would read them one by one and log an error for the read past the end.
    """
    return [item for chunk in chunks[:] for item in chunk]


def raise_for_failures(results: Iterable[Mapping[str, Any]]) -> None:
    """Fail, naming each record Kizen refused and why, if ScheduleActivityOperator reported any."""
    failures = [result for result in results if result["status"] not in SCHEDULED_STATUSES]
    if failures:
        shown = "; ".join(f"{result['record_key']}: {result['error']}" for result in failures[:20])
        more = f" (and {len(failures) - 20} more)" if len(failures) > 20 else ""
        raise AirflowException(f"{len(failures)} activities were not scheduled: {shown}{more}")


def record_escalation(
    hook: DbApiHook, ledger_table: str, record_key: str, escalation_activity_id: str
) -> None:
    mark = hook.placeholder
    hook.run(
        f"UPDATE {table_name(ledger_table)} SET escalation_activity_id = {mark} WHERE record_key = {mark}",
        parameters=(escalation_activity_id, record_key),
    )


def next_business_day_at(
    moment: datetime, timezone: str, *, record: str, hour: int = 10
) -> pendulum.DateTime:
    """The first Monday-to-Friday day after `moment`, at `hour`:00 local time in `timezone`.

    `record` names the row or customer in the error raised for an unknown timezone.
    """
    try:
        zone = pendulum.timezone(timezone)
    except ValueError as error:
        raise ValueError(f"{record}: timezone {timezone!r} is not an IANA timezone name") from error
    day = pendulum.instance(moment).in_timezone(zone).add(days=1).start_of("day")
    return skip_weekend(day).at(hour)


def skip_weekend(moment: pendulum.DateTime) -> pendulum.DateTime:
    """`moment`, moved on to the following Monday when it falls on a Saturday or Sunday."""
    while moment.day_of_week >= pendulum.WeekDay.SATURDAY:
        moment = moment.add(days=1)
    return moment


def contact_entity(email: str) -> dict[str, Any]:
    """An `associated_entities` item naming a Kizen contact by email."""
    return {"custom_object": {"name": CONTACTS_OBJECT_NAME}, "entity": {"name": email}}


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


# Role ids of the Kizen emulator's seed data, the defaults of the example params. In a real business,
# set the params to your own role ids (Kizen lists them at GET /api/role).
ACCOUNT_MANAGER_ROLE_ID = "e6c56b38-a1fd-51c1-8be1-7389f1df627f"
CUSTOMER_SUCCESS_ROLE_ID = "7bbbc057-db1d-546b-800b-beacbe6d7460"
