"""Keeping Kizen in step, end to end with dag.test(): create, reschedule, re-note, leave completed, cancel."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from airflow.utils.state import TaskInstanceState

ACTIVITIES_PATH = "/api/activities/scheduled-activity"
EMAILS = ("ada.lovelace@example.com", "grace.hopper@example.com", "alan.turing@example.com")
DUE = datetime.fromisoformat("2026-06-01T09:00:00+02:00")
ROWS, REMOVED = 30, 3


def row(number: int, *, days_later: int = 0, note: str = "Follow up on order") -> dict[str, Any]:
    return {
        "row_id": f"order-{number}",
        "activity_object_name": "follow_up_call",
        "due_datetime": (DUE + timedelta(hours=number, days=days_later)).isoformat(),
        "note": f"{note} {number}",
        "associated_entities": [
            {"custom_object": {"name": "client_client"}, "entity": {"name": EMAILS[number % len(EMAILS)]}}
        ],
    }


def pull(ti: Any) -> Any:
    return ti.xcom_pull(task_ids=ti.task_id)


def writes_since(control: Any, seen: int) -> list[dict[str, Any]]:
    """The writes (POST, PATCH, PUT, DELETE) among the requests logged after the first `seen`."""
    return [entry for entry in control.requests(ACTIVITIES_PATH)[seen:] if entry["method"] != "GET"]


def test_thirty_rows_kept_in_step(run_test_dag, kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    control = kizen_emulator.control

    # First run: every row is new.
    first = run_test_dag("operator_in_step", rows=[row(n) for n in range(ROWS + REMOVED)], removed=[])
    created = pull(first["sync"])
    assert Counter(result["status"] for result in created) == {"created": ROWS + REMOVED}
    assert Counter(result["status"] for result in pull(first["plan"])) == {"would_create": ROWS + REMOVED}
    ids = {result["record_key"]: result["activity_id"] for result in created}

    # Six meetings moved, four notes corrected (one of those activities completed in Kizen meanwhile),
    # twenty rows unchanged, and three rows gone from the source.
    moved, renoted = range(6), range(6, 10)
    rows = []
    for number in range(ROWS):
        changed = row(number, days_later=1) if number in moved else row(number)
        if number in renoted:
            changed = row(number, note="Bring the renewal quote for order")
        rows.append({**changed, "activity_id": ids[f"order-{number}"]})
    completed_id = ids["order-9"]
    control.complete(completed_id)
    completed_before = next(a for a in control.activities() if a["id"] == completed_id)
    removed = [ids[f"order-{number}"] for number in range(ROWS, ROWS + REMOVED)]
    seen = len(control.requests(ACTIVITIES_PATH))

    second = run_test_dag("operator_in_step", rows=rows, removed=removed)

    assert {task: ti.state for task, ti in second.items()} == dict.fromkeys(second, TaskInstanceState.SUCCESS)
    plan = {result["record_key"]: result for result in pull(second["plan"])}
    assert Counter(result["status"] for result in plan.values()) == {
        "would_update": 9,
        "unchanged": 20,
        "completed": 1,
    }
    assert plan["order-0"]["changed_fields"] == ["due_datetime"]
    assert plan["order-6"]["changed_fields"] == ["note"]
    synced = {result["record_key"]: result for result in pull(second["sync"])}
    assert Counter(result["status"] for result in synced.values()) == {
        "updated": 9,
        "unchanged": 20,
        "completed": 1,
    }
    assert synced["order-9"]["status"] == "completed"
    writes = writes_since(control, seen)
    patches = [entry for entry in writes if entry["method"] == "PATCH"]
    assert len(patches) == 9
    expected_bodies = {
        ids[f"order-{n}"]: {"due_datetime": row(n, days_later=1)["due_datetime"]} for n in moved
    }
    expected_bodies |= {
        ids[f"order-{n}"]: {"note": row(n, note="Bring the renewal quote for order")["note"]}
        for n in range(6, 9)
    }
    assert {entry["path"].rsplit("/", 1)[1]: entry["body"] for entry in patches} == expected_bodies
    assert all(entry["status"] == 200 for entry in patches)
    assert next(a for a in control.activities() if a["id"] == completed_id) == completed_before
    deletes = [entry for entry in writes if entry["method"] == "DELETE"]
    assert sorted(entry["path"].rsplit("/", 1)[1] for entry in deletes) == sorted(removed)
    assert [entry["method"] for entry in writes if entry["method"] not in ("PATCH", "DELETE")] == []
    assert [r["status"] for r in pull(second["cancel_removed"])] == ["cancelled"] * REMOVED
    stored = {activity["id"]: activity for activity in control.activities()}
    assert len(stored) == ROWS
    assert stored[ids["order-0"]]["original_due_datetime"] == created[0]["activity"]["due_datetime"]

    # A rerun with nothing changed writes nothing, and the cancellations succeed without deleting.
    seen = len(control.requests(ACTIVITIES_PATH))

    third = run_test_dag("operator_in_step", rows=rows, removed=removed)

    assert {task: ti.state for task, ti in third.items()} == dict.fromkeys(third, TaskInstanceState.SUCCESS)
    assert writes_since(control, seen) == []
    assert Counter(result["status"] for result in pull(third["sync"])) == {"unchanged": 29, "completed": 1}
    assert pull(third["cancel_removed"]) == [
        {"index": index, "activity_id": activity_id, "status": "cancelled", "already_gone": True}
        for index, activity_id in enumerate(removed)
    ]


def first_run(run_test_dag, count: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Create `count` rows' activities with one run; their ids by row id."""
    tis = run_test_dag("operator_in_step", rows=[row(n) for n in range(count)], removed=[])
    return {result["record_key"]: result["activity_id"] for result in pull(tis["sync"])}


def test_updates_go_through_throttling_and_lost_replies(run_test_dag, kizen_emulator, quick_retries) -> None:  # type: ignore[no-untyped-def]
    control = kizen_emulator.control
    ids = first_run(run_test_dag, 12)
    control.set_faults(
        path=f"{ACTIVITIES_PATH}/",
        rate_429=0.15,
        retry_after_seconds=0.05,
        rate_502=0.1,
        rate_503=0.1,
        seed=5,
    )
    rows = [{**row(n, note="Renewal moved for order"), "activity_id": ids[f"order-{n}"]} for n in range(12)]
    seen = len(control.requests(ACTIVITIES_PATH))

    tis = run_test_dag("operator_in_step", rows=rows, removed=[])

    assert tis["sync"].state == TaskInstanceState.SUCCESS
    assert Counter(result["status"] for result in pull(tis["sync"])) == {"updated": 12}
    logged = control.requests(ACTIVITIES_PATH)[seen:]
    assert {entry["fault"] for entry in logged} - {None}, "the faults never hit"
    accepted = Counter(
        entry["path"] for entry in logged if entry["method"] == "PATCH" and entry["status"] == 200
    )
    assert sorted(accepted.values()) == [1] * 12
    assert [entry for entry in logged if entry["method"] == "POST"] == []
    assert {a["note"] for a in control.activities()} == {f"Renewal moved for order {n}" for n in range(12)}


def test_a_record_whose_activity_is_gone_is_reported_not_recreated(  # type: ignore[no-untyped-def]
    run_test_dag, kizen_emulator, kizen_connection, kizen_api
) -> None:
    control = kizen_emulator.control
    ids = first_run(run_test_dag, 2)
    kizen_api.delete(f"{ACTIVITIES_PATH}/{ids['order-1']}")
    rows = [{**row(n), "activity_id": ids[f"order-{n}"]} for n in range(2)]
    seen = len(control.requests(ACTIVITIES_PATH))

    tis = run_test_dag("operator_in_step", rows=rows, removed=[])

    assert tis["sync"].state == TaskInstanceState.FAILED
    [failure] = tis["sync"].xcom_pull(task_ids="sync", key="failures")
    assert failure["record_key"] == "order-1"
    assert f"activity {ids['order-1']} is gone from Kizen" in failure["error"]
    assert "not re-created" in failure["error"]
    assert writes_since(control, seen) == []
    assert [a["id"] for a in control.activities()] == [ids["order-0"]]
