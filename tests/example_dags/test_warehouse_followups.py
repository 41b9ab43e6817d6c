"""kizen_warehouse_followups and kizen_followup_escalation end to end.

Warehouse (SQLite or PostgreSQL) -> Kizen emulator -> ledger -> the ledger asset -> escalation.
"""

from __future__ import annotations

from typing import Any

import pendulum

from airflow_provider_kizen.emulator import seed
from example_dags.kizen_sample_warehouse import (
    FOLLOWUP_REQUESTS,
    HIGH_PRIORITY_EMAILS,
    create_followup_requests,
)

DAG_ID = "kizen_warehouse_followups"
ESCALATION_DAG_ID = "kizen_followup_escalation"
LEDGER = "kizen_followup_ledger"
NEEDING_FOLLOWUP = [row for row in FOLLOWUP_REQUESTS if row[-1] == 1]
ROLE_IDS = {role["name"]: role["id"] for role in seed.ROLES}
# Short waits, so the escalation DAG's deadline passes in seconds.
QUICK_ESCALATION = {
    "completion_timeout_seconds": 3,
    "poke_interval_seconds": 1,
    "escalation_role_id": ROLE_IDS["Customer Success"],
}


def contact_email(activity: dict[str, Any]) -> str:
    return str(activity["associated_entities"][0]["entity"]["email"])


def test_schedules_once_and_escalates_overdue_high_priority(warehouse, kizen_emulator, run_dag) -> None:
    create_followup_requests(warehouse.hook())
    conf = {"chunk_size": 4, "fallback_role_id": ROLE_IDS["Account Manager"]}

    first = run_dag(DAG_ID, conf)

    assert first.state == "success", first.task_states
    # 6 rows need a follow-up; chunks of 4 make two mapped scheduling tasks.
    assert first.task_states["schedule_followups"] == ["success", "success"]
    assert first.task_states["announce_high_priority"] == ["success"]
    followups = kizen_emulator.control.activities()
    assert sorted(contact_email(a) for a in followups) == sorted(row[1] for row in NEEDING_FOLLOWUP)

    # The ledger update names the high-priority follow-ups. Nobody completes them, so the escalation
    # DAG's wait runs out and each one is escalated.
    escalation = run_dag(ESCALATION_DAG_ID, QUICK_ESCALATION)

    assert escalation.state == "success", escalation.task_states
    assert escalation.task_states["wait_for_completion"] == ["skipped"]
    assert escalation.task_states["no_escalation_needed"] == ["skipped"]
    escalations = [a for a in kizen_emulator.control.activities() if a["note"].startswith("Escalation:")]
    assert sorted(contact_email(a) for a in escalations) == sorted(HIGH_PRIORITY_EMAILS)
    assert {a["role"]["id"] for a in escalations} == {ROLE_IDS["Customer Success"]}

    ledger = warehouse.rows(f"SELECT * FROM {LEDGER} ORDER BY record_key")
    assert [row["record_key"] for row in ledger] == [row[0] for row in NEEDING_FOLLOWUP]
    by_id = {a["id"]: a for a in followups}
    for row in ledger:
        assert pendulum.parse(row["due_datetime"]) == pendulum.parse(
            by_id[row["activity_id"]]["due_datetime"]
        )
    escalated = {
        row["record_key"]: row["escalation_activity_id"] for row in ledger if row["escalation_activity_id"]
    }
    assert set(escalated) == {"opp-1001", "opp-1002", "opp-1004"}
    assert set(escalated.values()) == {a["id"] for a in escalations}

    second = run_dag(DAG_ID, conf)

    assert second.state == "success", second.task_states
    assert second.task_states["schedule_followups"] == ["skipped"]
    # Nothing new in the ledger, so no ledger update for the escalation DAG.
    assert second.task_states["announce_high_priority"] == ["skipped"]
    assert len(kizen_emulator.control.activities()) == len(followups) + len(escalations)
    assert len(warehouse.rows(f"SELECT record_key FROM {LEDGER}")) == len(ledger)


def test_due_next_business_day_at_ten_local_and_assigned(warehouse, kizen_emulator, run_dag) -> None:
    create_followup_requests(warehouse.hook())
    kizen_emulator.control.auto_complete(0.2)

    result = run_dag(DAG_ID, {"max_rows": 4, "fallback_role_id": ROLE_IDS["Account Manager"]})

    assert result.state == "success", result.task_states
    rows = {row[1]: row for row in NEEDING_FOLLOWUP}
    activities = kizen_emulator.control.activities()
    # max_rows takes the first rows by record key; the others wait for the next run.
    assert sorted(contact_email(a) for a in activities) == sorted(row[1] for row in NEEDING_FOLLOWUP[:4])
    for activity in activities:
        row = rows[contact_email(activity)]
        due = pendulum.parse(activity["due_datetime"]).in_timezone(row[2])
        assert (due.hour, due.minute) == (10, 0)
        assert due.day_of_week < pendulum.WeekDay.SATURDAY
        # Counted from now in the row's timezone: never in the past, at most four days ahead (Friday).
        assert pendulum.now(row[2]) < due < pendulum.now(row[2]).add(days=4)
        assert activity["note"] == row[4]
        if row[5]:
            assert activity["employee"]["id"] == row[5]
        else:
            assert activity["role"]["id"] == ROLE_IDS["Account Manager"]

    # Everything is completed shortly after creation: the wait succeeds and nothing escalates.
    escalation = run_dag(ESCALATION_DAG_ID, QUICK_ESCALATION | {"completion_timeout_seconds": 60})

    assert escalation.state == "success", escalation.task_states
    assert escalation.task_states["wait_for_completion"] == ["success"]
    assert escalation.task_states["no_escalation_needed"] == ["success"]
    assert escalation.task_states["build_escalations"] == ["skipped"]


def test_daily_examples_start_no_run_when_unpaused(dag_bag) -> None:
    """Unpausing from the trigger form must not queue a scheduled run ahead of the user's run."""
    now = pendulum.now("UTC")
    for dag_id in (DAG_ID, "kizen_onboarding_cadence"):
        dag = dag_bag.get_dag(dag_id)
        first = dag.timetable.next_dagrun_info(
            last_automated_data_interval=None, restriction=_restriction(dag)
        )
        assert first is not None
        assert first.run_after > now, dag_id


def _restriction(dag: Any) -> Any:
    from airflow.timetables.base import TimeRestriction

    return TimeRestriction(earliest=dag.start_date, latest=None, catchup=dag.catchup)
