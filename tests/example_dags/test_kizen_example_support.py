"""The example DAGs' shared helpers: due-time arithmetic, table names, chunks and the ledger."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowException

from example_dags.kizen_example_support import (
    chunked,
    ensure_ledger,
    existing_ledger_keys,
    next_business_day_at,
    query_dicts,
    raise_for_failures,
    table_name,
    write_ledger,
)


@pytest.mark.parametrize(
    ("moment", "timezone", "expected"),
    [
        # Wednesday evening UTC is already Thursday in Tokyo: the next business day is Friday.
        ("2026-11-25T20:00:00Z", "Asia/Tokyo", "2026-11-27T10:00:00+09:00"),
        # Friday -> Monday.
        ("2026-11-27T12:00:00Z", "Europe/London", "2026-11-30T10:00:00+00:00"),
        # Saturday -> Monday, and New York is back on standard time by then.
        ("2026-10-31T12:00:00Z", "America/New_York", "2026-11-02T10:00:00-05:00"),
    ],
)
def test_next_business_day_at_ten_local(moment: str, timezone: str, expected: str) -> None:
    due = next_business_day_at(pendulum.parse(moment), timezone, record="opp-1")
    assert due.isoformat() == expected


def test_unknown_timezone_names_the_record() -> None:
    with pytest.raises(ValueError, match=r"opp-7: timezone 'Mars/Base' is not an IANA timezone name"):
        next_business_day_at(pendulum.now("UTC"), "Mars/Base", record="opp-7")


@pytest.mark.parametrize("name", ["ledger", "analytics.ledger", "_t1"])
def test_table_name_accepts_plain_and_qualified_names(name: str) -> None:
    assert table_name(name) == name


@pytest.mark.parametrize("name", ["ledger; DROP TABLE x", "a.b.c", "1ledger", "", "ledger -- x"])
def test_table_name_refuses_anything_else(name: str) -> None:
    with pytest.raises(ValueError, match="is not a table name"):
        table_name(name)


def test_chunked() -> None:
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunked([], 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        chunked([1], 0)


def test_raise_for_failures_names_each_refused_record() -> None:
    results: list[dict[str, Any]] = [
        {"record_key": "opp-1", "status": "created"},
        {"record_key": "opp-2", "status": "invalid", "error": "due_datetime: This field is required."},
    ]
    with pytest.raises(
        AirflowException, match=r"1 activities were not scheduled: opp-2: due_datetime: This field"
    ):
        raise_for_failures(results)
    raise_for_failures(results[:1])


def test_ledger_skips_failures_and_rows_already_written(warehouse) -> None:
    hook = warehouse.hook()
    ledger = warehouse.table("ledger")
    ensure_ledger(hook, ledger)
    ensure_ledger(hook, ledger)  # creating it again is harmless
    results = [
        {"record_key": "opp-1", "status": "created", "activity_id": "a1", "activity": {"due_datetime": "d1"}},
        {"record_key": "opp-2", "status": "failed", "activity_id": None, "error": "500"},
        {
            "record_key": "opp-3",
            "status": "already_existed",
            "activity_id": "a3",
            "activity": {"due_datetime": "d3"},
        },
    ]
    run_after = pendulum.datetime(2026, 11, 25, 9, tz="Europe/Paris")

    assert write_ledger(hook, ledger, results, run_after) == 2
    # A retried task writes nothing twice.
    assert write_ledger(hook, ledger, results, run_after) == 0

    rows = query_dicts(hook, f"SELECT * FROM {ledger} ORDER BY record_key")
    assert [(row["record_key"], row["activity_id"], row["due_datetime"]) for row in rows] == [
        ("opp-1", "a1", "d1"),
        ("opp-3", "a3", "d3"),
    ]
    assert rows[0]["scheduled_at"] == "2026-11-25T08:00:00+00:00"
    assert existing_ledger_keys(hook, ledger, ["opp-1", "opp-2", "opp-3"]) == {"opp-1", "opp-3"}
