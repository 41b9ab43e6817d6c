"""CancelScheduledActivitiesOperator: ids as JSON text, one id or XCom; gone counts as cancelled."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from airflow.utils.state import TaskInstanceState

from airflow_provider_kizen.operators.cancel import parse_activity_ids

ACTIVITIES_PATH = "/api/activities/scheduled-activity"


def pull(ti: Any) -> Any:
    return ti.xcom_pull(task_ids=ti.task_id)


def requests_by_method(control: Any, method: str) -> list[dict[str, Any]]:
    return [entry for entry in control.requests(ACTIVITIES_PATH) if entry["method"] == method]


def test_cancel_deletes_once_leaves_completed_alone_and_a_rerun_deletes_nothing(  # type: ignore[no-untyped-def]
    run_test_dag, kizen_emulator, kizen_connection, create_scheduled_activities
) -> None:
    first, second, done = create_scheduled_activities(3)
    kizen_emulator.control.complete(done)
    ids = [first, second, done, first]

    tis = run_test_dag("operator_cancel", ids=ids, one=first)

    assert {task_id: ti.state for task_id, ti in tis.items()} == dict.fromkeys(tis, TaskInstanceState.SUCCESS)
    assert pull(tis["from_json_text"]) == [
        {"index": 0, "activity_id": first, "status": "cancelled", "already_gone": False},
        {"index": 1, "activity_id": second, "status": "cancelled", "already_gone": False},
        {"index": 2, "activity_id": done, "status": "completed"},
        {"index": 3, "activity_id": first, "status": "cancelled", "already_gone": False},
    ]
    assert pull(tis["one_id"]) == [
        {"index": 0, "activity_id": first, "status": "cancelled", "already_gone": True}
    ]
    assert [r["status"] for r in pull(tis["from_xcom"])] == [
        "cancelled",
        "cancelled",
        "completed",
        "cancelled",
    ]
    deletes = requests_by_method(kizen_emulator.control, "DELETE")
    assert sorted(entry["path"].rsplit("/", 1)[1] for entry in deletes) == sorted([first, second])
    assert [activity["id"] for activity in kizen_emulator.control.activities()] == [done]


def test_a_failed_cancellation_fails_the_task_after_every_id_was_tried(  # type: ignore[no-untyped-def]
    run_test_dag, kizen_emulator, quick_retries, create_scheduled_activities
) -> None:
    [kept, cancelled] = create_scheduled_activities(2)
    kizen_emulator.control.set_faults(path=f"{ACTIVITIES_PATH}/{kept}", rate_500=1.0)

    tis = run_test_dag("operator_cancel", ids=[kept, cancelled], one=cancelled)

    assert tis["from_json_text"].state == TaskInstanceState.FAILED
    assert [activity["id"] for activity in kizen_emulator.control.activities()] == [kept]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b"], ["a", "b"]),
        ("a", ["a"]),
        ("  a  ", ["a"]),
        ('["a", "b"]', ["a", "b"]),
        ('"a"', ["a"]),
        ("", []),
        (None, []),
        ("[]", []),
        ((12, "b"), ["12", "b"]),
    ],
)
def test_parse_activity_ids(value: Any, expected: list[str]) -> None:
    assert parse_activity_ids(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["a",', "not valid JSON"),
        (["a", ""], r"activity_ids\[1\]"),
        ([{"id": "a"}], r"activity_ids\[0\]"),
        ({"id": "a"}, "must be a list"),
        (7, "must be a list"),
    ],
)
def test_parse_activity_ids_refuses_what_is_not_an_id(value: Any, message: str) -> None:
    with pytest.raises(AirflowFailException, match=message):
        parse_activity_ids(value)
