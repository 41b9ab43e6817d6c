"""kizen_warehouse_followups end to end: warehouse (SQLite or PostgreSQL) -> Kizen emulator -> ledger."""

from __future__ import annotations

from typing import Any

import pendulum

from example_dags.kizen_example_support import ACCOUNT_MANAGER_ROLE_ID
from example_dags.kizen_sample_warehouse import (
    FOLLOWUP_REQUESTS,
    HIGH_PRIORITY_EMAILS,
    create_followup_requests,
)

DAG_ID = "kizen_warehouse_followups"
NEEDING_FOLLOWUP = [row for row in FOLLOWUP_REQUESTS if row[-1] == 1]


def run_conf(warehouse: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "source_table": warehouse.table("followup_requests"),
        "ledger_table": warehouse.table("followup_ledger"),
        "chunk_size": 4,
        "completion_timeout_seconds": 3,
        "poke_interval_seconds": 1,
        **overrides,
    }


def contact_email(activity: dict[str, Any]) -> str:
    return str(activity["associated_entities"][0]["entity"]["email"])


def test_schedules_once_and_escalates_overdue_high_priority(warehouse, kizen_emulator, run_dag) -> None:
    create_followup_requests(warehouse.hook(), warehouse.table("followup_requests"))
    conf = run_conf(warehouse)

    first = run_dag(DAG_ID, conf)

    assert first.state == "success", first.task_states
    # 6 rows need a follow-up; chunks of 4 make two mapped scheduling tasks.
    assert first.task_states["schedule_followups"] == ["success", "success"]
    # Nobody completes anything, so the wait runs out and the escalation branch runs.
    assert first.task_states["wait_for_high_priority"] == ["skipped"]
    assert first.task_states["schedule_escalations"] == ["success"]
    assert first.task_states["no_escalation_needed"] == ["skipped"]

    activities = kizen_emulator.control.activities()
    followups = [a for a in activities if not a["note"].startswith("Escalation:")]
    escalations = [a for a in activities if a["note"].startswith("Escalation:")]
    assert sorted(contact_email(a) for a in followups) == sorted(row[1] for row in NEEDING_FOLLOWUP)
    assert sorted(contact_email(a) for a in escalations) == sorted(HIGH_PRIORITY_EMAILS)

    ledger = warehouse.rows(f"SELECT * FROM {warehouse.table('followup_ledger')} ORDER BY record_key")
    assert [row["record_key"] for row in ledger] == [row[0] for row in NEEDING_FOLLOWUP]
    by_id = {a["id"]: a for a in followups}
    for row in ledger:
        assert pendulum.parse(row["due_datetime"]) == pendulum.parse(
            by_id[row["activity_id"]]["due_datetime"]
        )
    escalated = {row["record_key"]: row["escalation_activity_id"] for row in ledger}
    assert {key for key, value in escalated.items() if value} == {"opp-1001", "opp-1002", "opp-1004"}
    assert {escalated["opp-1001"], escalated["opp-1002"], escalated["opp-1004"]} == {
        a["id"] for a in escalations
    }

    second = run_dag(DAG_ID, conf)

    assert second.state == "success", second.task_states
    assert second.task_states["schedule_followups"] == ["skipped"]
    assert len(kizen_emulator.control.activities()) == len(activities)
    assert len(warehouse.rows(f"SELECT record_key FROM {warehouse.table('followup_ledger')}")) == len(ledger)


def test_due_next_business_day_at_ten_local_and_assigned(warehouse, kizen_emulator, run_dag) -> None:
    create_followup_requests(warehouse.hook(), warehouse.table("followup_requests"))
    kizen_emulator.control.auto_complete(0.2)

    result = run_dag(DAG_ID, run_conf(warehouse, max_rows=4))

    assert result.state == "success", result.task_states
    # Everything is completed shortly after creation: the sensor succeeds and nothing escalates.
    assert result.task_states["wait_for_high_priority"] == ["success"]
    assert result.task_states["no_escalation_needed"] == ["success"]
    assert result.task_states["build_escalations"] == ["skipped"]
    rows = {row[1]: row for row in NEEDING_FOLLOWUP}
    activities = kizen_emulator.control.activities()
    # max_rows takes the first rows by record key; the others wait for the next run.
    assert sorted(contact_email(a) for a in activities) == sorted(row[1] for row in NEEDING_FOLLOWUP[:4])
    for activity in activities:
        row = rows[contact_email(activity)]
        due = pendulum.parse(activity["due_datetime"]).in_timezone(row[2])
        assert (due.hour, due.minute) == (10, 0)
        assert due.day_of_week < pendulum.WeekDay.SATURDAY
        assert due > pendulum.now(row[2])
        assert activity["note"] == row[4]
        if row[5]:
            assert activity["employee"]["id"] == row[5]
        else:
            assert activity["role"]["id"] == ACCOUNT_MANAGER_ROLE_ID
