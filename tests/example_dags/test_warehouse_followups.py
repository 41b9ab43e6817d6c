"""kizen_warehouse_followups and kizen_followup_escalation end to end.

Warehouse (SQLite or PostgreSQL) -> Kizen emulator -> ledger -> the ledger asset -> escalation; and the
warehouse changing afterwards: rows rescheduled in place, removed rows cancelled, reruns writing nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pendulum

from airflow_provider_kizen.emulator import seed
from example_dags.kizen_sample_warehouse import (
    FOLLOWUP_REQUESTS,
    HIGH_PRIORITY_EMAILS,
    SAM_ID,
    create_followup_requests,
)

DAG_ID = "kizen_warehouse_followups"
ESCALATION_DAG_ID = "kizen_followup_escalation"
SOURCE = "kizen_followup_requests"
LEDGER = "kizen_followup_ledger"
ACTIVITIES_PATH = "/api/activities/scheduled-activity"
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


def counts(**nonzero: int) -> dict[str, int]:
    """What `report_results` returns: how many follow-ups the run created, updated... in Kizen."""
    statuses = ("created", "updated", "unchanged", "completed", "cancelled", "failed")
    return {status: nonzero.get(status, 0) for status in statuses}


def writes_since(control: Any, seen: int) -> list[dict[str, Any]]:
    """The writes (POST, PATCH, PUT, DELETE) among the activity requests logged after the first `seen`."""
    return [entry for entry in control.requests(ACTIVITIES_PATH)[seen:] if entry["method"] != "GET"]


def ledger_rows(warehouse: Any) -> dict[str, dict[str, Any]]:
    return {row["record_key"]: row for row in warehouse.rows(f"SELECT * FROM {LEDGER}")}


def test_schedules_once_and_escalates_overdue_high_priority(warehouse, kizen_emulator, run_dag) -> None:
    create_followup_requests(warehouse.hook())
    # No fallback role: Kizen gives the rows without an owner to the API user.
    conf = {"chunk_size": 4}

    first = run_dag(DAG_ID, conf)

    assert first.state == "success", first.task_states
    # 6 rows need a follow-up; chunks of 4 make two mapped scheduling tasks.
    assert first.task_states["schedule_followups"] == ["success", "success"]
    assert first.task_states["announce_high_priority"] == ["success"]
    assert first.returned["report_results"] == [counts(created=len(NEEDING_FOLLOWUP))]
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

    seen = len(kizen_emulator.control.requests(ACTIVITIES_PATH))

    second = run_dag(DAG_ID, conf)

    assert second.state == "success", second.task_states
    # Every follow-up is read and compared, and nothing is written: not even the assignees Kizen chose.
    assert second.task_states["schedule_followups"] == ["success", "success"]
    assert second.returned["report_results"] == [counts(unchanged=len(NEEDING_FOLLOWUP))]
    assert writes_since(kizen_emulator.control, seen) == []
    # Nothing new, so no ledger update for the escalation DAG.
    assert second.task_states["announce_high_priority"] == ["skipped"]
    assert len(kizen_emulator.control.activities()) == len(followups) + len(escalations)
    assert warehouse.rows(f"SELECT * FROM {LEDGER} ORDER BY record_key") == ledger


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

    # The next run takes the two rows left: the ledger's rows do not count against max_rows.
    second = run_dag(DAG_ID, {"max_rows": 4, "fallback_role_id": ROLE_IDS["Account Manager"]})

    assert second.state == "success", second.task_states
    assert second.returned["report_results"] == [counts(created=2, completed=4)]
    assert set(ledger_rows(warehouse)) == {row[0] for row in NEEDING_FOLLOWUP}
    # opp-1006 has a date: due at 10:00 on it, in Los Angeles.
    [(follow_up_on,)] = warehouse.hook().get_records(
        f"SELECT follow_up_on FROM {SOURCE} WHERE record_key = 'opp-1006'"
    )
    [dated] = [
        a for a in kizen_emulator.control.activities() if contact_email(a) == "barbara.liskov@example.com"
    ]
    assert pendulum.parse(dated["due_datetime"]) == pendulum.parse(
        str(follow_up_on), tz="America/Los_Angeles"
    ).at(10)


def test_changed_rows_are_updated_in_place_and_removed_rows_cancelled(
    warehouse, kizen_emulator, run_dag
) -> None:
    hook, control = warehouse.hook(), kizen_emulator.control
    create_followup_requests(hook)
    conf = {"chunk_size": 4, "fallback_role_id": ROLE_IDS["Account Manager"]}
    first = run_dag(DAG_ID, conf)
    assert first.state == "success", first.task_states
    ids = {key: row["activity_id"] for key, row in ledger_rows(warehouse).items()}
    created = {activity["id"]: activity for activity in control.activities()}

    # The sales team at work: a follow-up moved to a date, a reason corrected, an owner changed, an
    # owner removed (the fallback role takes over), a row deleted, and a deal closed whose follow-up
    # someone already logged in Kizen.
    moved_to = date.today() + timedelta(days=10)
    hook.run(f"UPDATE {SOURCE} SET follow_up_on = '{moved_to.isoformat()}' WHERE record_key = 'opp-1006'")
    hook.run(f"UPDATE {SOURCE} SET reason = 'Ask which plan fits the team.' WHERE record_key = 'opp-1003'")
    hook.run(f"UPDATE {SOURCE} SET owner_employee_id = '{SAM_ID}' WHERE record_key = 'opp-1005'")
    hook.run(f"UPDATE {SOURCE} SET owner_employee_id = NULL WHERE record_key = 'opp-1001'")
    hook.run(f"DELETE FROM {SOURCE} WHERE record_key = 'opp-1002'")
    hook.run(f"UPDATE {SOURCE} SET needs_followup = 0 WHERE record_key = 'opp-1004'")
    control.complete(ids["opp-1004"])
    seen = len(control.requests(ACTIVITIES_PATH))

    second = run_dag(DAG_ID, conf)

    assert second.state == "success", second.task_states
    assert second.returned["report_results"] == [counts(updated=4, completed=1, cancelled=1)]
    # One PATCH per changed row, with only what changed, and one DELETE.
    writes = writes_since(control, seen)
    assert Counter(write["method"] for write in writes) == {"PATCH": 4, "DELETE": 1}
    patched = {write["path"].rstrip("/").rsplit("/", 1)[-1]: set(write["body"] or ()) for write in writes}
    assert patched == {
        ids["opp-1006"]: {"due_datetime"},
        ids["opp-1003"]: {"note"},
        ids["opp-1005"]: {"employee_id"},
        ids["opp-1001"]: {"employee_id", "role_id"},
        ids["opp-1002"]: set(),
    }
    activities = {activity["id"]: activity for activity in control.activities()}
    moved = activities[ids["opp-1006"]]
    assert pendulum.parse(moved["due_datetime"]) == pendulum.parse(
        moved_to.isoformat(), tz="America/Los_Angeles"
    ).at(10)
    assert moved["original_due_datetime"] == created[moved["id"]]["original_due_datetime"]
    assert activities[ids["opp-1003"]]["note"] == "Ask which plan fits the team."
    assert activities[ids["opp-1005"]]["employee"]["id"] == SAM_ID
    assert activities[ids["opp-1001"]]["employee"] is None
    assert activities[ids["opp-1001"]]["role"]["id"] == ROLE_IDS["Account Manager"]
    # The deleted row's follow-up is cancelled; the closed deal's logged one is history and stays.
    assert ids["opp-1002"] not in activities
    assert activities[ids["opp-1004"]]["completed_at"] is not None
    # Both leave the ledger; the rest keep their activities, and the moved one its new due time.
    ledger = ledger_rows(warehouse)
    assert {key: row["activity_id"] for key, row in ledger.items()} == {
        key: ids[key] for key in ("opp-1001", "opp-1003", "opp-1005", "opp-1006")
    }
    assert pendulum.parse(ledger["opp-1006"]["due_datetime"]) == pendulum.parse(moved["due_datetime"])
    seen = len(control.requests(ACTIVITIES_PATH))

    third = run_dag(DAG_ID, conf)

    assert third.state == "success", third.task_states
    assert third.returned["report_results"] == [counts(unchanged=4)]
    assert writes_since(control, seen) == []

    # No row needs a follow-up any more: nothing is scheduled, and every follow-up is cancelled.
    hook.run(f"UPDATE {SOURCE} SET needs_followup = 0")

    last = run_dag(DAG_ID, conf)

    assert last.state == "success", last.task_states
    assert last.task_states["schedule_followups"] == ["skipped"]
    assert last.returned["report_results"] == [counts(cancelled=4)]
    assert ledger_rows(warehouse) == {}
    assert [activity["id"] for activity in control.activities()] == [ids["opp-1004"]]


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
