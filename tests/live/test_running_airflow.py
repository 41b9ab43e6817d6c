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
ESCALATION_DAG = "kizen_followup_escalation"
EXAMPLE_DAG_FILES = [f"{dag_id}.py" for dag_id in (MANUAL_DAG, WAREHOUSE_DAG, ESCALATION_DAG)]
SENSOR = "ScheduledActivityCompletedSensor"
SENSOR_TASK = "wait_for_completion"
RUN_TIMEOUT_SECONDS = 150


@pytest.fixture(scope="module")
def airflow(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle, warehouse: Path
) -> Iterator[LiveAirflow]:
    home = tmp_path_factory.mktemp("airflow-home")
    dags_folder = home / "dags"
    # Each example file copied alone, as a user would.
    dags_folder.mkdir()
    for name in EXAMPLE_DAG_FILES:
        shutil.copy(REPO_ROOT / "example_dags" / name, dags_folder)
    connections = {"AIRFLOW_CONN_KIZEN_DEFAULT": emulator.connection_uri, **connection_env(warehouse)}
    with running_airflow(home, dags_folder, extra_env=connections) as live:
        live.wait_for_dags([MANUAL_DAG, WAREHOUSE_DAG, ESCALATION_DAG])
        for dag_id in (MANUAL_DAG, WAREHOUSE_DAG, ESCALATION_DAG):
            live.unpause(dag_id)
        yield live
    print("live Airflow phases (seconds):", {phase: round(took, 1) for phase, took in live.timings.items()})
    live.wait_until_gone()


@dataclass(frozen=True)
class TriggeredRuns:
    manual: RunWatch
    manual_conf: dict[str, Any]
    followups: RunWatch
    escalation: RunWatch
    # The escalation DAG's asset events queued by the follow-ups run, before the escalation run took them.
    queued_ledger_events: list[dict[str, Any]]


@pytest.fixture(scope="module")
def triggered(airflow: LiveAirflow, emulator: EmulatorHandle) -> TriggeredRuns:
    """The example DAGs triggered with a conf; the follow-ups completed once the sensor has deferred."""
    due = pendulum.now("Asia/Tokyo").add(days=2).replace(second=0, microsecond=0)
    manual_conf = {
        "contact_email": "grace.hopper@example.com",
        "activity_type": "proposal_review",
        # As the form's picker sends it: the date and time shown, with a Z.
        "due_datetime": due.format("YYYY-MM-DDTHH:mm:ss.SSS") + "Z",
        "timezone": "Asia/Tokyo",
        "note": "Walk through the proposal.\nBring the compiler benchmarks.",
        "text_reminder": "15 minutes",
    }
    # Chunks of 4 split the 6 rows needing a follow-up over two mapped tasks.
    manual = airflow.trigger_run(MANUAL_DAG, manual_conf)
    followups = airflow.trigger_run(WAREHOUSE_DAG, {"chunk_size": 4})
    airflow.watch(
        [manual, followups],
        lambda: manual.finished and followups.finished,
        what="the manual and follow-ups runs to finish",
        timeout=RUN_TIMEOUT_SECONDS,
    )
    with airflow.client() as api:
        queued = api.get(f"/api/v2/dags/{ESCALATION_DAG}/assets/queuedEvents").raise_for_status().json()
    # These tests schedule no runs themselves (the scheduler's job schedule is off), so the escalation
    # run the ledger update queued is triggered here, with a short poll interval.
    escalation = airflow.trigger_run(
        ESCALATION_DAG, {"poke_interval_seconds": 2, "completion_timeout_seconds": 300}
    )

    def sensor_deferred() -> bool:
        return any("deferred" in states for states in escalation.tasks_of(SENSOR).values())

    airflow.watch(
        [escalation], sensor_deferred, what="the completion sensor to defer", timeout=RUN_TIMEOUT_SECONDS
    )
    airflow.wait_for_deferral_reported(escalation, SENSOR_TASK, map_index=0)
    # The sensor now waits in the triggerer. Someone at Kizen logs the follow-ups as done.
    for activity in emulator.control.activities():
        emulator.control.complete(activity["id"])
    airflow.watch(
        [escalation],
        lambda: escalation.finished,
        what="the escalation run to finish",
        timeout=RUN_TIMEOUT_SECONDS,
    )
    return TriggeredRuns(manual, manual_conf, followups, escalation, queued["queued_events"])


def _contact_email(activity: dict[str, Any]) -> str:
    (entity,) = activity["associated_entities"]
    return str(entity["entity"]["email"])


@pytest.mark.parametrize(
    ("conf", "param", "bad_value"),
    [
        pytest.param({"contact_email": "not-an-email"}, "contact_email", "not-an-email", id="email"),
        pytest.param({"activity_type": "lunch"}, "activity_type", "lunch", id="activity-type"),
        pytest.param({"due_datetime": "next tuesday"}, "due_datetime", "next tuesday", id="due-datetime"),
        pytest.param({"email_reminder": "by pigeon"}, "email_reminder", "by pigeon", id="reminder"),
    ],
)
def test_trigger_with_invalid_params_is_refused(
    airflow: LiveAirflow, conf: dict[str, Any], param: str, bad_value: str
) -> None:
    valid = {
        "contact_email": "ada.lovelace@example.com",
        "due_datetime": "2026-12-01T10:00:00.000Z",
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


def test_the_runs_succeed(triggered: TriggeredRuns) -> None:
    assert triggered.manual.state == "success", triggered.manual.describe()
    assert triggered.manual.final_states("schedule_followup") == ["success"], triggered.manual.describe()
    followups = triggered.followups
    assert followups.state == "success", followups.describe()
    assert followups.final_states("schedule_followups") == ["success", "success"], followups.describe()
    escalation = triggered.escalation
    assert escalation.state == "success", escalation.describe()
    # Every high-priority follow-up was completed in time: no escalation.
    assert escalation.final_states("no_escalation_needed") == ["success"], escalation.describe()
    assert escalation.final_states("schedule_escalations") == ["skipped"], escalation.describe()


def test_the_ledger_update_queues_the_escalation_dag(triggered: TriggeredRuns) -> None:
    (event,) = triggered.queued_ledger_events
    assert event["dag_id"] == ESCALATION_DAG


def test_daily_dags_start_no_run_when_unpaused(airflow: LiveAirflow, triggered: TriggeredRuns) -> None:
    """Unpaused (by the fixture), the daily DAG waits for its next morning instead of running at once."""
    with airflow.client() as api:
        dag = api.get(f"/api/v2/dags/{WAREHOUSE_DAG}").raise_for_status().json()
    assert not dag["is_paused"]
    assert pendulum.parse(dag["next_dagrun_run_after"]) > pendulum.now("UTC")
    assert airflow.run_count(WAREHOUSE_DAG) == 1  # the test's own


def test_sensor_waits_deferred_in_the_triggerer(triggered: TriggeredRuns, airflow: LiveAirflow) -> None:
    escalation = triggered.escalation
    (states,) = escalation.tasks_of(SENSOR).values()
    # Its wait ran in the triggerer, and it came back to a worker only to finish.
    assert "deferred" in states, escalation.describe()
    assert states[-1] == "success", escalation.describe()
    with airflow.client() as api:
        path = f"/api/v2/dags/{ESCALATION_DAG}/dagRuns/{escalation.run_id}/taskInstances/{SENSOR_TASK}/0"
        sensor = api.get(path).raise_for_status().json()
    assert sensor["operator"] == SENSOR
    # Resuming from the trigger continued the first try; nothing failed and retried.
    assert sensor["try_number"] == 1


def test_manual_followup_is_in_kizen(triggered: TriggeredRuns, emulator: EmulatorHandle) -> None:
    conf = triggered.manual_conf
    (activity,) = [a for a in emulator.control.activities() if a["note"] == conf["note"]]
    assert _contact_email(activity) == conf["contact_email"]
    assert activity["activity_object"]["api_name"] == conf["activity_type"]
    # The picker's date and time, read in Tokyo (UTC+9).
    expected = pendulum.parse(conf["due_datetime"].removesuffix("Z"), tz="Asia/Tokyo")
    assert pendulum.parse(activity["due_datetime"]) == expected
    assert [(n["type"], n["time_amount"]) for n in activity["notifications"]] == [("email", 1), ("text", 15)]


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
    # The escalation's sensor waited for exactly the high-priority follow-ups, and returned them completed.
    waited_for = airflow.xcom(ESCALATION_DAG, triggered.escalation.run_id, task_id=SENSOR_TASK, map_index=0)
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
