"""ScheduledActivityCompletedSensor: its small parts, then whole DAG runs against the emulator."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk.bases.operator import TriggerFailureReason
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    TaskDeferred,
)
from airflow.utils.state import TaskInstanceState

from airflow_provider_kizen.sensors.scheduled_activity import (
    ScheduledActivityCompletedSensor,
    parse_activity_ids,
)
from airflow_provider_kizen.triggers.scheduled_activity import ScheduledActivityCompletedTrigger

LIST_PATH = "/api/activities/scheduled-activity"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a1", ["a1"]),
        (" a1 ", ["a1"]),
        (["a1", "b2", "a1"], ["a1", "b2"]),
        (("a1",), ["a1"]),
        ('["a1", "b2"]', ["a1", "b2"]),
        ("['a1', 'b2']", ["a1", "b2"]),
        ([], []),
        ("[]", []),
    ],
)
def test_parse_activity_ids_accepts_an_id_a_list_or_a_list_string(value: Any, expected: list[str]) -> None:
    assert parse_activity_ids(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "got NoneType"),
        ({"id": "a1"}, "got dict"),
        (["a1", 7], r"activity_ids\[1\] must be a non-empty string, got 7"),
        (["a1", ""], r"activity_ids\[1\]"),
        ("[a1, b2", "neither a JSON nor a Python list"),
    ],
)
def test_parse_activity_ids_names_what_is_wrong(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_activity_ids(value)


def make_sensor(**kwargs: Any) -> ScheduledActivityCompletedSensor:
    return ScheduledActivityCompletedSensor(task_id="wait", **{"activity_ids": ["a1", "b2"], **kwargs})


class RecordingTaskInstance:
    """Just enough of a task instance for the sensor's XCom pushes."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def test_deferrable_mode_looks_once_then_defers_saying_what_it_waits_for(
    kizen_emulator, create_scheduled_activities, capsys: pytest.CaptureFixture[str]
) -> None:
    activity_ids = create_scheduled_activities(7)
    kizen_emulator.control.complete(activity_ids[0])
    sensor = make_sensor(activity_ids=activity_ids, deferrable=True, timeout=600, poke_interval=5)
    before = time.time()

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={"ti": RecordingTaskInstance()})  # type: ignore[arg-type]

    looked = [r for r in kizen_emulator.control.requests(LIST_PATH) if r["method"] == "GET"]
    assert len(looked) == 1, "one page showed all seven before deferring"
    assert deferred.value.timeout == timedelta(seconds=600)
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, ScheduledActivityCompletedTrigger)
    assert trigger.activity_ids == activity_ids
    assert trigger.poll_interval == 5
    assert not trigger.include_activities
    assert before + 600 <= trigger.deadline <= time.time() + 600
    # The task log goes through structlog to stdout.
    waiting = next(
        line for line in capsys.readouterr().out.splitlines() if "Waiting in the triggerer" in line
    )
    deadline = datetime.fromtimestamp(trigger.deadline, UTC).isoformat(timespec="seconds")
    assert f"for 6 of 7 scheduled activities to be completed ({', '.join(activity_ids[1:6])} ...)" in waiting
    assert f"every 5 s until {deadline}" in waiting


@pytest.mark.parametrize("include_activities", [False, True])
def test_deferrable_mode_does_not_defer_when_all_are_completed(
    kizen_emulator, create_scheduled_activities, include_activities: bool
) -> None:
    activity_ids = create_scheduled_activities(2)
    for activity_id in activity_ids:
        kizen_emulator.control.complete(activity_id)
    ti = RecordingTaskInstance()
    sensor = make_sensor(activity_ids=activity_ids, deferrable=True, include_activities=include_activities)

    result = sensor.execute(context={"ti": ti})  # type: ignore[arg-type]

    if include_activities:
        assert result == kizen_emulator.control.activities()
    else:
        assert [sorted(record) for record in result] == [["completed_at", "id", "logged_activity_id"]] * 2
    assert [record["id"] for record in result] == activity_ids
    assert ti.xcoms == {"completed_ids": activity_ids, "pending_ids": []}


@pytest.mark.parametrize("deferrable", [False, True])
def test_no_ids_succeeds_at_once_without_calling_kizen(deferrable: bool) -> None:
    sensor = make_sensor(activity_ids=[], deferrable=deferrable, kizen_conn_id="no_such_connection")
    ti = RecordingTaskInstance()

    assert sensor.execute(context={"ti": ti}) == []  # type: ignore[arg-type]
    assert ti.xcoms == {"completed_ids": [], "pending_ids": []}


COMPLETED = [{"id": "a1", "completed_at": "2026-11-25T08:00:00Z", "logged_activity_id": "l1"}]


def test_execute_complete_returns_the_records_of_a_success_event_and_pushes_the_ids() -> None:
    ti = RecordingTaskInstance()

    result = make_sensor(activity_ids=["a1"]).execute_complete(
        {"ti": ti},  # type: ignore[arg-type]
        {"status": "success", "completed": COMPLETED},
    )

    assert result == COMPLETED
    assert ti.xcoms == {"completed_ids": ["a1"], "pending_ids": []}


def test_execute_complete_returns_the_whole_activities_when_asked() -> None:
    activities = [{"id": "a1", "completed_at": "2026-11-25T08:00:00Z", "note": "Call Ada"}]
    sensor = make_sensor(activity_ids=["a1"], include_activities=True)

    result = sensor.execute_complete(
        {"ti": RecordingTaskInstance()},  # type: ignore[arg-type]
        {"status": "success", "completed": COMPLETED, "activities": activities},
    )

    assert result == activities


def test_a_timeout_event_pushes_the_pending_and_completed_ids_then_raises() -> None:
    ti = RecordingTaskInstance()
    event = {"status": "timeout", "completed": COMPLETED, "pending_ids": ["b2"], "message": "1 of 2: b2"}

    with pytest.raises(AirflowSensorTimeout, match="1 of 2: b2"):
        make_sensor().execute_complete({"ti": ti}, event)  # type: ignore[arg-type]

    assert ti.xcoms == {"completed_ids": ["a1"], "pending_ids": ["b2"]}


def test_a_deferral_timeout_from_airflow_still_pushes_the_ids_after_one_more_look(
    kizen_emulator, create_scheduled_activities
) -> None:
    done, pending = create_scheduled_activities(2)
    kizen_emulator.control.complete(done)
    ti = RecordingTaskInstance()
    sensor = make_sensor(activity_ids=[done, pending], deferrable=True)

    with pytest.raises(AirflowSensorTimeout):
        sensor.resume_execution(
            "__fail__",
            {"error": TriggerFailureReason.TRIGGER_TIMEOUT},
            {"ti": ti},  # type: ignore[arg-type]
        )

    assert ti.xcoms == {"completed_ids": [done], "pending_ids": [pending]}


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (
            {"status": "error", "activity_id": "a1", "message": "a1 cannot be watched: 404"},
            AirflowFailException,
        ),
        ({"status": "confused"}, AirflowException),
    ],
)
def test_execute_complete_raises_for_every_other_event(event: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match=event.get("message", "confused")):
        make_sensor().execute_complete({}, event)  # type: ignore[arg-type]


# Whole DAG runs: dag.test() runs the sensor in a real task runner and, when it defers, the trigger
# in-process, against the emulator over HTTP.


@contextmanager
def completed_after_reads(kizen_emulator, activity_ids: list[str], reads: int) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Complete the activities once Kizen has answered `reads` reads (pages or single activities), so
    the sensor must wait."""
    stop = threading.Event()

    def complete_when_read() -> None:
        while not stop.wait(0.05):
            answered = [r for r in kizen_emulator.control.requests(LIST_PATH) if r["method"] == "GET"]
            if len(answered) >= reads:
                for activity_id in activity_ids:
                    kizen_emulator.control.complete(activity_id)
                return

    completer = threading.Thread(target=complete_when_read)
    completer.start()
    try:
        yield
    finally:
        stop.set()
        completer.join()


def run_dag(dag_bag, dag_id: str, activity_ids: list[str]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Run the DAG once; returns each task instance by task id."""
    dag = dag_bag.get_dag(dag_id)
    assert dag is not None, dag_bag.import_errors
    dag_run = dag.test(run_conf={"activity_ids": activity_ids})
    return {ti.task_id: ti for ti in dag_run.get_task_instances()}


@pytest.mark.parametrize("dag_id", ["sensor_poke", "sensor_reschedule", "sensor_deferrable"])
def test_the_sensor_waits_until_every_activity_is_completed(
    dag_bag, kizen_emulator, create_scheduled_activities, dag_id: str
) -> None:
    activity_ids = create_scheduled_activities(3)

    with completed_after_reads(kizen_emulator, activity_ids, reads=6):
        wait = run_dag(dag_bag, dag_id, activity_ids)["wait"]

    assert wait.state == TaskInstanceState.SUCCESS
    activities = wait.xcom_pull(task_ids="wait")
    assert [activity["id"] for activity in activities] == activity_ids
    assert all(activity["completed_at"] for activity in activities)


def test_the_sensor_waits_for_the_activities_the_operator_scheduled(
    dag_bag, kizen_emulator, kizen_connection
) -> None:
    kizen_emulator.control.auto_complete(0.5)

    dag_run = dag_bag.get_dag("sensor_after_operator").test()

    task_instances = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    assert task_instances["wait"].state == TaskInstanceState.SUCCESS
    scheduled = task_instances["schedule"].xcom_pull(task_ids="schedule", key="activity_ids")
    activities = task_instances["wait"].xcom_pull(task_ids="wait")
    assert len(scheduled) == 2
    assert [activity["id"] for activity in activities] == scheduled
    assert all(activity["completed_at"] for activity in activities)


def test_the_deferred_sensor_sees_an_activity_a_user_logs(
    dag_bag, kizen_emulator, kizen_api, create_scheduled_activities
) -> None:
    logged_by_hand, completed = create_scheduled_activities(2)
    kizen_emulator.control.complete(completed, after_seconds=0.3)

    def log_activity() -> None:
        response = kizen_api.post(
            "/api/activities/follow_up_call/log-activity",
            json={
                "scheduled_activity_id": logged_by_hand,
                "related_objects": [],
                "notes": "Called, all good",
            },
        )
        response.raise_for_status()

    timer = threading.Timer(1.0, log_activity)
    timer.start()
    try:
        wait = run_dag(dag_bag, "sensor_deferrable", [logged_by_hand, completed])["wait"]
    finally:
        timer.join()

    assert wait.state == TaskInstanceState.SUCCESS
    by_id = {activity["id"]: activity for activity in wait.xcom_pull(task_ids="wait")}
    assert by_id[logged_by_hand]["logged_activity_id"]


@pytest.mark.parametrize("dag_id", ["sensor_poke", "sensor_deferrable"])
def test_the_sensor_waits_through_rate_limits_and_unavailability(
    dag_bag, kizen_emulator, create_scheduled_activities, quick_retries, dag_id: str
) -> None:
    activity_ids = create_scheduled_activities(3)
    # With seed 2, both a 429 and a 503 come within the first eight reads.
    kizen_emulator.control.set_faults(
        path=LIST_PATH, rate_429=0.2, retry_after_seconds=0.1, rate_503=0.2, seed=2
    )

    with completed_after_reads(kizen_emulator, activity_ids, reads=8):
        wait = run_dag(dag_bag, dag_id, activity_ids)["wait"]

    assert wait.state == TaskInstanceState.SUCCESS
    statuses = Counter(request["status"] for request in kizen_emulator.control.requests(LIST_PATH))
    assert statuses[429] > 0
    assert statuses[503] > 0


@pytest.mark.parametrize("dag_id", ["sensor_poke", "sensor_deferrable"])
def test_a_deleted_activity_fails_the_sensor_without_retrying(
    dag_bag, kizen_api, create_scheduled_activities, dag_id: str
) -> None:
    kept, deleted = create_scheduled_activities(2)
    assert kizen_api.delete(f"{LIST_PATH}/{deleted}").status_code == 204

    wait = run_dag(dag_bag, dag_id, [kept, deleted])["wait"]

    assert wait.state == TaskInstanceState.FAILED
    assert wait.try_number == 1, "a deleted activity stays deleted, so the task is not retried"


def test_a_timeout_fails_the_sensor_without_retrying_or_skips_it_with_soft_fail(
    dag_bag, kizen_emulator, create_scheduled_activities
) -> None:
    done, pending = create_scheduled_activities(2)
    kizen_emulator.control.complete(done)

    task_instances = run_dag(dag_bag, "sensor_timeout", [done, pending])

    states = {task_id: (ti.state, ti.try_number) for task_id, ti in task_instances.items()}
    assert states == {
        "poke_strict": (TaskInstanceState.FAILED, 1),
        "poke_soft": (TaskInstanceState.SKIPPED, 1),
        "deferrable_strict": (TaskInstanceState.FAILED, 1),
        "deferrable_soft": (TaskInstanceState.SKIPPED, 1),
    }
    for task_id, ti in task_instances.items():
        assert ti.xcom_pull(task_ids=task_id, key="pending_ids") == [pending], task_id
        assert ti.xcom_pull(task_ids=task_id, key="completed_ids") == [done], task_id
