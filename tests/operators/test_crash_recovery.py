"""Exactly once when the worker dies between creating activities and recording them.

The operator runs outside a DAG here, against the emulator over loopback, with an in-memory
task_state_store that "dies" (raises a BaseException, as a killed worker stops mid-write) on a chosen
checkpoint. That is the worst moment: activities exist in Kizen that no checkpoint names.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite
from airflow_provider_kizen.operators.ledger import LEDGER_KEY
from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

ACTIVITIES_PATH = "/api/activities/scheduled-activity"


class WorkerDied(BaseException):
    """Stands for SIGKILL: nothing after it runs in the dying try."""


class DyingStore:
    """A task_state_store whose `die_on`-th checkpoint write never happens."""

    def __init__(self, die_on: int | None) -> None:
        self.values: dict[str, Any] = {}
        self.die_on = die_on
        self.checkpoints = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.values[key])) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        if key != LEDGER_KEY:
            self.checkpoints += 1
            if self.die_on is not None and self.checkpoints >= self.die_on:
                raise WorkerDied
        self.values[key] = json.loads(json.dumps(value))


class TaskInstance:
    def __init__(self, try_number: int) -> None:
        self.try_number = try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def payloads(count: int) -> list[dict[str, Any]]:
    return [
        {
            "activity_object_name": "follow_up_call",
            "due_datetime": f"2026-07-01T{number // 60 % 24:02d}:{number % 60:02d}:00Z",
            "note": f"crash test {number}",
            "associated_entities": [
                {"custom_object": {"name": "client_client"}, "entity": {"name": "ada.lovelace@example.com"}}
            ],
        }
        for number in range(count)
    ]


def attempt(store: DyingStore, try_number: int, records: list[dict[str, Any]]) -> tuple[Any, TaskInstance]:
    operator = ScheduleActivityOperator(task_id="schedule", payload=records, max_concurrency=8)
    ti = TaskInstance(try_number)
    context = {"ti": ti, "task_state_store": store}
    return operator.execute(context), ti  # type: ignore[arg-type]


@pytest.mark.parametrize("die_on", [2, 3])
def test_a_worker_killed_before_recording_its_ids_is_retried_without_duplicates(
    kizen_emulator, kizen_connection, die_on: int
) -> None:  # type: ignore[no-untyped-def]
    # Enough records that the second and third checkpoints come while the batch is still sending.
    records = payloads(2000)
    store = DyingStore(die_on=die_on)

    with pytest.raises(WorkerDied):
        attempt(store, 1, records)
    made_by_first_try = len(kizen_emulator.control.activities())
    assert 0 < made_by_first_try < 2000

    store.die_on = None
    results, ti = attempt(store, 2, records)

    stored = kizen_emulator.control.activities()
    assert len(stored) == 2000
    assert set(Counter(activity["note"] for activity in stored).values()) == {1}
    statuses = Counter(result["status"] for result in results)
    assert statuses["already_existed"] == made_by_first_try
    assert statuses["created"] == 2000 - made_by_first_try
    assert ti.xcom["activity_ids"] == [result["activity_id"] for result in results]
    assert sorted(ti.xcom["activity_ids"]) == sorted(activity["id"] for activity in stored)


def test_records_sharing_a_key_are_created_once(kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    records = payloads(3)
    results, _ = attempt(DyingStore(die_on=None), 1, [records[0], records[1], records[0]])

    assert [result["status"] for result in results] == ["created", "created", "already_existed"]
    assert results[2]["activity_id"] == results[0]["activity_id"]
    assert results[2]["index"] == 2
    assert len(kizen_emulator.control.activities()) == 2


def test_each_record_is_validated_once(kizen_emulator, kizen_connection, mocker) -> None:  # type: ignore[no-untyped-def]
    validations = mocker.spy(ScheduledActivityWrite, "model_validate")
    records = payloads(30)

    results, ti = attempt(DyingStore(die_on=None), 1, records)

    assert [result["status"] for result in results] == ["created"] * 30
    assert validations.call_count == 30
    assert len(ti.xcom["activity_ids"]) == 30


def test_a_retry_reports_the_updates_an_earlier_try_made(kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    """The task failed after its PATCHes (say, pushing XCom): the retry finds the activities in step,
    sends nothing, and still reports those records as updated, with the fields that try changed."""
    created, _ = attempt(DyingStore(die_on=None), 1, payloads(10))
    updates = [
        {**record, "activity_id": result["activity_id"]}
        | ({"note": f"{record['note']}, corrected"} if index < 4 else {})
        for index, (record, result) in enumerate(zip(payloads(10), created, strict=True))
    ]
    store = DyingStore(die_on=None)
    first, _ = attempt(store, 1, updates)
    seen = len(kizen_emulator.control.requests(ACTIVITIES_PATH))

    retried, _ = attempt(store, 2, updates)

    assert retried == first
    assert Counter(result["status"] for result in retried) == {"updated": 4, "unchanged": 6}
    assert {tuple(result["changed_fields"]) for result in retried[:4]} == {("note",)}
    sent = kizen_emulator.control.requests(ACTIVITIES_PATH)[seen:]
    assert {entry["method"] for entry in sent} == {"GET"}
