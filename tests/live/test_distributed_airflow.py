"""The provider on a distributed Airflow: two Celery workers and two triggerers, one of each killed.

One Airflow serves the module (see `distributed.py`): the CeleryExecutor on Redis, PostgreSQL as the
metadata database, and a Kizen emulator on loopback. Runs are triggered and observed through the REST
API; what Kizen received is read from the emulator.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from airflow_provider_kizen.emulator.testing import EmulatorHandle

from .airflow_process import LiveAirflow, RunWatch, wait_for
from .distributed import TRIGGERERS, WORKERS, running_distributed_airflow
from .sample_warehouse import SOURCE_TABLE, connection_env, query

pytestmark = pytest.mark.distributed

REPO_ROOT = Path(__file__).resolve().parents[2]
WAREHOUSE_DAG = "kizen_warehouse_followups"
ESCALATION_DAG = "kizen_followup_escalation"  # scheduled on the warehouse DAG's ledger asset
BATCH_DAG = "operator_retry"  # tests/dags/operator_faults.py
BATCH_TASK = "schedule_batch"
ACTIVITIES_PATH = "/api/activities/scheduled-activity"
FAILOVER_DAG = "sensor_failover"  # tests/dags/sensor_waits.py
SENSOR = "ScheduledActivityCompletedSensor"
ESCALATION_SENSOR_TASK = "wait_for_completion"
BATCH_ROWS = 2000
# The worker is killed once Kizen holds this many of the batch's activities.
KILL_AFTER = 500
RUN_TIMEOUT_SECONDS = 180


@pytest.fixture(scope="module")
def airflow(
    postgres_dsn: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    emulator: EmulatorHandle,
    warehouse: Path,
) -> Iterator[LiveAirflow]:
    # PostgreSQL and Redis come first: without them the test skips (or fails, under CI) at once.
    home = tmp_path_factory.mktemp("airflow-home")
    dags_folder = home / "dags"
    dags_folder.mkdir()
    for dag_id in (WAREHOUSE_DAG, ESCALATION_DAG):
        shutil.copy(REPO_ROOT / "example_dags" / f"{dag_id}.py", dags_folder)
    for dag_file in ("operator_faults.py", "sensor_waits.py"):
        shutil.copy(REPO_ROOT / "tests" / "dags" / dag_file, dags_folder / dag_file)
    # Every worker and triggerer reads the connections from its environment. The short back-off keeps
    # the hook's retries of injected faults quick.
    connections = {
        "AIRFLOW_CONN_KIZEN_DEFAULT": f"{emulator.connection_uri}&backoff_initial_seconds=0.05"
        "&backoff_max_seconds=0.5",
        **connection_env(warehouse),
    }
    with running_distributed_airflow(
        home, dags_folder, postgres_dsn=postgres_dsn, redis_url=redis_url, extra_env=connections
    ) as live:
        live.wait_for_dags([WAREHOUSE_DAG, ESCALATION_DAG, BATCH_DAG, FAILOVER_DAG])
        for dag_id in (WAREHOUSE_DAG, ESCALATION_DAG, BATCH_DAG, FAILOVER_DAG):
            live.unpause(dag_id)
        yield live
    print("distributed Airflow phases (seconds):", {k: round(v, 1) for k, v in live.timings.items()})
    live.wait_until_gone()


def _metadata_query(airflow: LiveAirflow, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows from the metadata database, for what the REST API does not show (trigger owners, deadlines)."""
    url = make_url(airflow.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False)
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cursor:
        cursor.execute(sql, args)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def _triggerers_of(airflow: LiveAirflow, run: RunWatch) -> dict[str, str | None]:
    """For each deferred task of `run`: the hostname of the triggerer running its trigger (None: nobody)."""
    rows = _metadata_query(
        airflow,
        """
        SELECT ti.task_id, job.hostname
        FROM task_instance ti
        JOIN trigger ON trigger.id = ti.trigger_id
        LEFT JOIN job ON job.id = trigger.triggerer_id
        WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.state = 'deferred'
        """,
        run.dag_id,
        run.run_id,
    )
    return {task_id: hostname for task_id, hostname in rows}


def _task_instance(airflow: LiveAirflow, run: RunWatch, task_id: str, *, tries: bool = False) -> Any:
    path = f"/api/v2/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}"
    with airflow.client() as api:
        return api.get(f"{path}/tries" if tries else path).raise_for_status().json()


def _try_number(ti: dict[str, Any]) -> int:
    return int(ti["try_number"])


def _schedule_activities(emulator: EmulatorHandle, count: int) -> list[str]:
    """Schedule `count` follow-up calls directly in Kizen (due tomorrow); returns their ids."""
    from airflow_provider_kizen.hooks.kizen import KizenHook

    due_datetime = datetime.now(UTC) + timedelta(days=1)
    payload = {"activity_object_name": "follow_up_call", "due_datetime": due_datetime.isoformat()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", emulator.connection_uri)
        hook = KizenHook()
        try:
            return [str(hook.create_scheduled_activity(payload).id) for _ in range(count)]
        finally:
            hook.close()


def test_warehouse_example_end_to_end(
    airflow: LiveAirflow, emulator: EmulatorHandle, warehouse: Path
) -> None:
    """The warehouse example on the Celery workers, then its escalation DAG's wait in a triggerer."""
    emulator.control.reset()
    followups = airflow.trigger_run(WAREHOUSE_DAG, {"chunk_size": 4})
    airflow.watch(
        [followups],
        lambda: followups.finished,
        what="the warehouse run to finish",
        timeout=RUN_TIMEOUT_SECONDS,
    )
    assert followups.state == "success", followups.describe()
    # The scheduler's job schedule is off in these tests, so the escalation run the ledger asset would
    # start is triggered here, with a short poll interval.
    run = airflow.trigger_run(ESCALATION_DAG, {"poke_interval_seconds": 2, "completion_timeout_seconds": 300})

    def sensor_deferred() -> bool:
        return any("deferred" in states for states in run.tasks_of(SENSOR).values())

    airflow.watch([run], sensor_deferred, what="the completion sensor to defer", timeout=RUN_TIMEOUT_SECONDS)
    airflow.wait_for_deferral_reported(run, ESCALATION_SENSOR_TASK, map_index=0)
    for activity in emulator.control.activities():
        emulator.control.complete(activity["id"])
    airflow.watch(
        [run], lambda: run.finished, what="the escalation run to finish", timeout=RUN_TIMEOUT_SECONDS
    )

    assert run.state == "success", run.describe()
    assert all("deferred" in states for states in run.tasks_of(SENSOR).values()), run.describe()
    requests = query(warehouse, f"SELECT * FROM {SOURCE_TABLE} WHERE needs_followup = 1")
    activities = emulator.control.activities()
    assert len(activities) == len(requests)
    assert Counter(a["note"] for a in activities) == Counter(r["reason"] for r in requests)
    assert all(activity["completed_at"] for activity in activities)


def test_batch_whose_worker_is_killed_is_retried_on_the_other_worker_exactly_once(
    airflow: LiveAirflow, emulator: EmulatorHandle
) -> None:
    """2,000 records under 503s, 429s and dropped commits; the worker running them is SIGKILLed partway."""
    control = emulator.control
    control.reset()
    control.set_faults(
        path=ACTIVITIES_PATH,
        rate_503=0.03,
        rate_429=0.03,
        retry_after_seconds=0.2,
        rate_commit_then_drop=0.03,
        seed=15,
    )
    try:
        run = airflow.trigger_run(BATCH_DAG, {"rows": BATCH_ROWS})

        def batch_worker() -> str | None:
            running = [
                ti
                for ti in run.task_instances
                if ti["task_id"] == BATCH_TASK and ti["state"] == "running" and ti["hostname"]
            ]
            return str(running[0]["hostname"]) if running else None

        airflow.watch([run], lambda: batch_worker() is not None, what="the batch to start", timeout=120)
        worker = batch_worker()
        assert worker in WORKERS, run.describe()

        def partway() -> int | None:
            stored = len(control.activities())
            return stored if stored >= KILL_AFTER else None

        # Listing every activity is not free for the emulator, which shares this process: look twice a second.
        wait_for(f"Kizen to hold {KILL_AFTER} activities", partway, timeout=RUN_TIMEOUT_SECONDS, interval=0.5)
        airflow.kill(worker)
        stored_at_kill = len(control.activities())
        assert stored_at_kill < BATCH_ROWS, "the batch finished before its worker was killed"
        airflow.watch(
            [run], lambda: run.finished, what="the batch run to finish", timeout=RUN_TIMEOUT_SECONDS
        )
    finally:
        control.clear_faults()

    assert run.state == "success", run.describe()
    # The killed try was failed for its missing heartbeats and retried, on the worker still alive.
    tries = sorted(_task_instance(airflow, run, BATCH_TASK, tries=True)["task_instances"], key=_try_number)
    assert [ti["try_number"] for ti in tries] == [1, 2], tries
    assert tries[0]["hostname"] == worker
    (survivor,) = set(WORKERS) - {worker}
    assert tries[1]["hostname"] == survivor
    assert tries[1]["state"] == "success"
    # Exactly 2,000 activities: none created twice, none lost.
    notes = Counter(activity["note"] for activity in control.activities())
    expected = {f"retry follow-up {number}" for number in range(BATCH_ROWS)}
    duplicates = sum(count - 1 for count in notes.values())
    lost = len(expected - set(notes))
    assert (sum(notes.values()), duplicates, lost) == (BATCH_ROWS, 0, 0)
    assert set(notes) == expected
    # The retry recognised everything the killed try had created.
    statuses = Counter(r["status"] for r in airflow.xcom(BATCH_DAG, run.run_id, task_id=BATCH_TASK))
    assert statuses["already_existed"] >= stored_at_kill, statuses
    assert statuses["already_existed"] + statuses["created"] == BATCH_ROWS, statuses
    # Each kind of fault really happened.
    faults = Counter(
        entry["fault"] for entry in control.requests(ACTIVITIES_PATH) if entry["method"] == "POST"
    )
    assert all(faults[kind] > 0 for kind in ("503", "429", "commit_then_drop")), faults


def test_wait_whose_triggerer_is_killed_moves_to_the_other_triggerer_and_keeps_its_deadline(
    airflow: LiveAirflow, emulator: EmulatorHandle
) -> None:
    """Two deferred waits whose triggerer is SIGKILLed: one completed afterwards, one left to time out."""
    control = emulator.control
    control.reset()
    activity_ids = _schedule_activities(emulator, 2)
    overdue_ids = _schedule_activities(emulator, 1)
    doomed, survivor = TRIGGERERS
    # Both waits must start on the triggerer that is then killed, so the other waits paused until they have.
    airflow.pause(survivor)
    try:
        run = airflow.trigger_run(FAILOVER_DAG, {"activity_ids": activity_ids, "overdue_ids": overdue_ids})
        airflow.watch(
            [run],
            lambda: _triggerers_of(airflow, run) == {"wait": doomed, "wait_past_deadline": doomed},
            what=f"both waits to run in {doomed}",
            timeout=RUN_TIMEOUT_SECONDS,
        )
    finally:
        airflow.resume(survivor)
    for task_id in ("wait", "wait_past_deadline"):
        airflow.wait_for_deferral_reported(run, task_id)
    ((started, deadline),) = _metadata_query(
        airflow,
        "SELECT start_date, trigger_timeout FROM task_instance "
        "WHERE dag_id = %s AND run_id = %s AND task_id = 'wait_past_deadline'",
        run.dag_id,
        run.run_id,
    )
    airflow.kill(doomed)
    killed_at = datetime.now(UTC)
    airflow.watch(
        [run],
        lambda: _triggerers_of(airflow, run).get("wait") == survivor,
        what=f"{survivor} to take the wait over",
        timeout=RUN_TIMEOUT_SECONDS,
    )
    taken_over_at = datetime.now(UTC)
    # Someone at Kizen logs the calls only now: the new triggerer must see it.
    for activity_id in activity_ids:
        control.complete(activity_id)
    airflow.watch([run], lambda: run.finished, what="the failover run to finish", timeout=RUN_TIMEOUT_SECONDS)

    assert run.state == "success", run.describe()
    # The wait resumed its first try from the new triggerer's event, with both activities completed.
    wait = _task_instance(airflow, run, "wait")
    assert (wait["state"], wait["try_number"]) == ("success", 1)
    waited_for = airflow.xcom(FAILOVER_DAG, run.run_id, task_id="wait")
    assert [activity["id"] for activity in waited_for] == activity_ids
    assert all(activity["completed_at"] for activity in waited_for)
    # The second wait's deadline passed while no triggerer ran it; it still ended at that deadline,
    # not a full timeout after a new triggerer picked it up.
    assert killed_at < deadline < taken_over_at, (killed_at, deadline, taken_over_at)
    overdue = _task_instance(airflow, run, "wait_past_deadline")
    assert overdue["state"] == "skipped"  # soft_fail: timed out
    ended = datetime.fromisoformat(overdue["end_date"])
    full_timeout = deadline - started
    assert deadline <= ended < deadline + full_timeout, (started, deadline, ended)
