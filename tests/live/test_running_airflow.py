"""The example DAGs on a real Airflow: API server, scheduler, dag-processor and triggerer.

One Airflow and one Kizen emulator serve the whole module. Runs are triggered through the REST API
with a `conf`, exactly as the UI's trigger form does, and observed through the REST API too.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_kizen.emulator.testing import EmulatorHandle

from .airflow_process import LiveAirflow, RunWatch, running_airflow
from .sample_warehouse import LEDGER_TABLE, SOURCE_TABLE, connection_env, query

pytestmark = pytest.mark.live_airflow

REPO_ROOT = Path(__file__).resolve().parents[2]
MANUAL_DAG = "kizen_manual_followup"
WAREHOUSE_DAG = "kizen_warehouse_followups"
SENSOR = "ScheduledActivityCompletedSensor"
SENSOR_TASK = "wait_for_high_priority"
RUN_TIMEOUT_SECONDS = 150


@pytest.fixture(scope="module")
def airflow(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle, warehouse: Path
) -> Iterator[LiveAirflow]:
    home = tmp_path_factory.mktemp("airflow-home")
    dags_folder = home / "dags"
    shutil.copytree(REPO_ROOT / "example_dags", dags_folder / "example_dags")
    connections = {"AIRFLOW_CONN_KIZEN_DEFAULT": emulator.connection_uri, **connection_env(warehouse)}
    with running_airflow(home, dags_folder, extra_env=connections) as live:
        live.wait_for_dags([MANUAL_DAG, WAREHOUSE_DAG])
        for dag_id in (MANUAL_DAG, WAREHOUSE_DAG):
            live.unpause(dag_id)
        yield live
    print("live Airflow phases (seconds):", {phase: round(took, 1) for phase, took in live.timings.items()})
    live.wait_until_gone()


@dataclass(frozen=True)
class TriggeredRuns:
    manual: RunWatch
    manual_conf: dict[str, Any]
    followups: RunWatch


@pytest.fixture(scope="module")
def triggered(airflow: LiveAirflow, emulator: EmulatorHandle) -> TriggeredRuns:
    """Both example DAGs triggered with a conf; their follow-ups completed once the sensor has deferred."""
    manual_conf = {
        "contact_email": "grace.hopper@example.com",
        "activity_type": "proposal_review",
        "due_datetime": pendulum.now("UTC").add(days=2).replace(microsecond=0).isoformat(),
        "note": "Walk through the proposal.\nBring the compiler benchmarks.",
        "reminders": [{"type": "text", "time_amount": 15, "time_unit": "minute"}],
    }
    # Chunks of 4 split the 6 rows needing a follow-up over two mapped tasks; the sensor polls often.
    warehouse_conf = {"chunk_size": 4, "poke_interval_seconds": 2, "completion_timeout_seconds": 300}
    manual = airflow.trigger_run(MANUAL_DAG, manual_conf)
    followups = airflow.trigger_run(WAREHOUSE_DAG, warehouse_conf)
    runs = [manual, followups]

    def sensor_deferred() -> bool:
        return any("deferred" in states for states in followups.tasks_of(SENSOR).values())

    airflow.watch(runs, sensor_deferred, what="the completion sensor to defer", timeout=RUN_TIMEOUT_SECONDS)
    airflow.wait_for_deferral_reported(followups, SENSOR_TASK, map_index=0)
    # The sensor now waits in the triggerer. Someone at Kizen logs the follow-ups as done.
    for activity in emulator.control.activities():
        emulator.control.complete(activity["id"])
    airflow.watch(
        runs,
        lambda: all(run.finished for run in runs),
        what="the runs to finish",
        timeout=RUN_TIMEOUT_SECONDS,
    )
    return TriggeredRuns(manual, manual_conf, followups)


def _contact_email(activity: dict[str, Any]) -> str:
    (entity,) = activity["associated_entities"]
    return str(entity["entity"]["email"])


@pytest.mark.parametrize(
    ("conf", "param", "bad_value"),
    [
        pytest.param({"contact_email": "not-an-email"}, "contact_email", "not-an-email", id="email"),
        pytest.param({"activity_type": "lunch"}, "activity_type", "lunch", id="activity-type"),
        pytest.param({"due_datetime": "next tuesday"}, "due_datetime", "next tuesday", id="due-datetime"),
        pytest.param(
            {"reminders": [{"type": "pigeon", "time_amount": 1, "time_unit": "hour"}]},
            "reminders",
            "pigeon",
            id="reminder",
        ),
    ],
)
def test_trigger_with_invalid_params_is_refused(
    airflow: LiveAirflow, conf: dict[str, Any], param: str, bad_value: str
) -> None:
    valid = {
        "contact_email": "ada.lovelace@example.com",
        "due_datetime": "2026-12-01T10:00:00+00:00",
        "note": "Check in after the workshop.",
    }
    runs_before = airflow.run_count(MANUAL_DAG)

    response = airflow.trigger(MANUAL_DAG, {**valid, **conf})

    assert response.status_code == 400, response.text
    # The message names the param and shows the value that broke its schema.
    detail = response.json()["detail"]
    assert f"Invalid input for param {param}" in detail
    assert repr(bad_value) in detail
    assert airflow.run_count(MANUAL_DAG) == runs_before


def test_both_runs_succeed(triggered: TriggeredRuns) -> None:
    assert triggered.manual.state == "success", triggered.manual.describe()
    assert triggered.manual.final_states("schedule_followup") == ["success"], triggered.manual.describe()
    followups = triggered.followups
    assert followups.state == "success", followups.describe()
    assert followups.final_states("schedule_followups") == ["success", "success"], followups.describe()
    # Every high-priority follow-up was completed in time: no escalation.
    assert followups.final_states("no_escalation_needed") == ["success"], followups.describe()
    assert followups.final_states("schedule_escalations") == ["skipped"], followups.describe()


def test_sensor_waits_deferred_in_the_triggerer(triggered: TriggeredRuns, airflow: LiveAirflow) -> None:
    followups = triggered.followups
    (states,) = followups.tasks_of(SENSOR).values()
    # Its wait ran in the triggerer, and it came back to a worker only to finish.
    assert "deferred" in states, followups.describe()
    assert states[-1] == "success", followups.describe()
    with airflow.client() as api:
        path = f"/api/v2/dags/{WAREHOUSE_DAG}/dagRuns/{followups.run_id}/taskInstances/{SENSOR_TASK}/0"
        sensor = api.get(path).raise_for_status().json()
    assert sensor["operator"] == SENSOR
    # Resuming from the trigger continued the first try; nothing failed and retried.
    assert sensor["try_number"] == 1


def test_manual_followup_is_in_kizen(triggered: TriggeredRuns, emulator: EmulatorHandle) -> None:
    conf = triggered.manual_conf
    (activity,) = [a for a in emulator.control.activities() if a["note"] == conf["note"]]
    assert _contact_email(activity) == conf["contact_email"]
    assert activity["activity_object"]["api_name"] == conf["activity_type"]
    assert pendulum.parse(activity["due_datetime"]) == pendulum.parse(conf["due_datetime"])


def test_warehouse_followups_are_in_kizen_and_the_ledger(
    triggered: TriggeredRuns, airflow: LiveAirflow, emulator: EmulatorHandle, warehouse: Path
) -> None:
    requests = query(warehouse, f"SELECT * FROM {SOURCE_TABLE} WHERE needs_followup = 1")
    ledger = {row["record_key"]: row for row in query(warehouse, f"SELECT * FROM {LEDGER_TABLE}")}
    activities = {activity["id"]: activity for activity in emulator.control.activities()}

    assert set(ledger) == {request["record_key"] for request in requests}
    for request in requests:
        activity = activities[ledger[request["record_key"]]["activity_id"]]
        assert _contact_email(activity) == request["contact_email"]
        assert activity["note"] == request["reason"]
    # The sensor waited for exactly the high-priority follow-ups, and returned them completed.
    waited_for = airflow.xcom(WAREHOUSE_DAG, triggered.followups.run_id, task_id=SENSOR_TASK, map_index=0)
    high_priority = {request["record_key"] for request in requests if request["priority"] == "high"}
    assert {activity["id"] for activity in waited_for} == {
        ledger[key]["activity_id"] for key in high_priority
    }
    assert all(activity["completed_at"] for activity in waited_for)


def test_api_key_never_leaves_the_connection(
    triggered: TriggeredRuns, airflow: LiveAirflow, emulator: EmulatorHandle
) -> None:
    """Task and component logs, XComs and rendered template fields of both runs never hold the API key."""
    leaks = [
        str(path.relative_to(airflow.home))
        for path in airflow.home.rglob("*")
        if path.is_file() and path.suffix != ".db" and emulator.api_key in path.read_text(errors="replace")
    ]
    assert leaks == []
    with closing(sqlite3.connect(f"file:{airflow.home / 'airflow.db'}?mode=ro", uri=True)) as conn:
        for table, column in (("xcom", "value"), ("rendered_task_instance_fields", "rendered_fields")):
            rows, leaked = conn.execute(
                f"SELECT COUNT(*), COUNT(NULLIF(INSTR({column}, ?), 0)) FROM {table}", (emulator.api_key,)
            ).fetchone()
            assert rows > 0, f"no {table} rows were written, so nothing was checked"
            assert leaked == 0, f"{leaked} {table} rows hold the API key"
