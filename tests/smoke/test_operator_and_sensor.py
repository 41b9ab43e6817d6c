"""The operator and the deferrable sensor in a real dag.test() run, on the oldest supported Airflow too.

scripts/smoke-oldest.sh runs this on the lowest apache-airflow that pyproject.toml allows, so the
features that need Airflow 3.3 (the operator's task_state_store, the sensor's trigger) are exercised
there, not only on the newest release. It also runs in the main suite.
"""

from __future__ import annotations

from airflow.utils.state import TaskInstanceState


def test_operator_then_deferrable_sensor(dag_bag, kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    kizen_emulator.control.auto_complete(0.5)
    dag = dag_bag.get_dag("sensor_after_operator")
    assert dag is not None, dag_bag.import_errors

    dag_run = dag.test()

    task_instances = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    schedule, wait = task_instances["schedule"], task_instances["wait"]
    assert (schedule.state, wait.state) == (TaskInstanceState.SUCCESS, TaskInstanceState.SUCCESS)
    results = schedule.xcom_pull(task_ids="schedule")
    assert [(r["index"], r["status"]) for r in results] == [(0, "created"), (1, "created")]
    scheduled = schedule.xcom_pull(task_ids="schedule", key="activity_ids")
    assert scheduled == [r["activity_id"] for r in results]
    assert sorted(scheduled) == sorted(a["id"] for a in kizen_emulator.control.activities())
    activities = wait.xcom_pull(task_ids="wait")
    assert [activity["id"] for activity in activities] == scheduled
    assert all(activity["completed_at"] for activity in activities)
