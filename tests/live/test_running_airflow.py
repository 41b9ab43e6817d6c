"""The example DAGs on a real Airflow: API server, scheduler, dag-processor and triggerer.

One Airflow and one Kizen emulator serve the whole module. Runs are triggered through the REST API
with a `conf`, exactly as the UI's trigger form does, and observed through the REST API too.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pendulum
import pytest

from .airflow_process import LiveAirflow, running_airflow

pytestmark = pytest.mark.live_airflow

REPO_ROOT = Path(__file__).resolve().parents[2]
MANUAL_DAG = "kizen_manual_followup"
WAREHOUSE_DAG = "kizen_warehouse_followups"
# The warehouse DAG's default connection and tables.
WAREHOUSE_CONN_ID = "kizen_warehouse"
SOURCE_TABLE = "kizen_followup_requests"
LEDGER_TABLE = "kizen_followup_ledger"
SENSOR = "ScheduledActivityCompletedSensor"
RUN_TIMEOUT_SECONDS = 150


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_kizen.emulator.testing import running_emulator

    with running_emulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite warehouse holding the example DAG's sample follow-up requests."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    with pytest.MonkeyPatch.context() as patch:
        # The example DAGs' helpers import as `example_dags.*` from the DAGs folder, as Airflow does.
        patch.syspath_prepend(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        patch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", _sqlite_connection(path))
        from example_dags.kizen_example_support import warehouse_hook
        from example_dags.kizen_sample_warehouse import create_followup_requests

        create_followup_requests(warehouse_hook(WAREHOUSE_CONN_ID), SOURCE_TABLE)
    return path


@pytest.fixture(scope="module")
def airflow(
    tmp_path_factory: pytest.TempPathFactory, emulator: Any, warehouse: Path
) -> Iterator[LiveAirflow]:
    home = tmp_path_factory.mktemp("airflow-home")
    dags_folder = home / "dags"
    shutil.copytree(REPO_ROOT / "example_dags", dags_folder / "example_dags")
    connections = {
        "AIRFLOW_CONN_KIZEN_DEFAULT": emulator.connection_uri,
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": _sqlite_connection(warehouse),
    }
    with running_airflow(home, dags_folder, extra_env=connections) as live:
        live.wait_for_dags([MANUAL_DAG, WAREHOUSE_DAG])
        for dag_id in (MANUAL_DAG, WAREHOUSE_DAG):
            live.unpause(dag_id)
        yield live
    print("live Airflow phases (seconds):", {phase: round(took, 1) for phase, took in live.timings.items()})
    live.wait_until_gone()


def _sqlite_connection(path: Path) -> str:
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


def _query(warehouse: Path, sql: str) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(warehouse)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql).fetchall()]


def _contact_email(activity: dict[str, Any]) -> str:
    (entity,) = activity["associated_entities"]
    return str(entity["entity"]["email"])


@pytest.mark.parametrize(
    ("conf", "param"),
    [
        pytest.param({"contact_email": "not-an-email"}, "contact_email", id="email"),
        pytest.param({"activity_type": "lunch"}, "activity_type", id="activity-type"),
        pytest.param({"due_datetime": "next tuesday"}, "due_datetime", id="due-datetime"),
        pytest.param(
            {"reminders": [{"type": "pigeon", "time_amount": 1, "time_unit": "hour"}]},
            "reminders",
            id="reminder",
        ),
    ],
)
def test_trigger_with_invalid_params_is_refused(
    airflow: LiveAirflow, conf: dict[str, Any], param: str
) -> None:
    valid = {
        "contact_email": "ada.lovelace@example.com",
        "due_datetime": "2026-12-01T10:00:00+00:00",
        "note": "Check in after the workshop.",
    }

    response = airflow.trigger(MANUAL_DAG, {**valid, **conf})

    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert f"Invalid input for param {param}" in detail
    with airflow.client() as api:
        runs = api.get(f"/api/v2/dags/{MANUAL_DAG}/dagRuns").raise_for_status().json()
    assert all(run["conf"].get(param) != conf[param] for run in runs["dag_runs"])


def test_triggered_runs_defer_then_succeed(airflow: LiveAirflow, emulator: Any, warehouse: Path) -> None:
    due = pendulum.now("UTC").add(days=2).replace(microsecond=0)
    manual_conf = {
        "contact_email": "grace.hopper@example.com",
        "activity_type": "proposal_review",
        "due_datetime": due.isoformat(),
        "note": "Walk through the proposal.\nBring the compiler benchmarks.",
        "reminders": [{"type": "text", "time_amount": 15, "time_unit": "minute"}],
    }
    warehouse_conf = {"chunk_size": 4, "poke_interval_seconds": 2, "completion_timeout_seconds": 300}
    requests = _query(warehouse, f"SELECT * FROM {SOURCE_TABLE} WHERE needs_followup = 1")
    high_priority = {row["record_key"] for row in requests if row["priority"] == "high"}

    manual = airflow.trigger_run(MANUAL_DAG, manual_conf)
    followups = airflow.trigger_run(WAREHOUSE_DAG, warehouse_conf)
    runs = [manual, followups]

    def sensor_deferred() -> bool:
        return any("deferred" in states for states in followups.tasks_of(SENSOR).values())

    airflow.watch(runs, sensor_deferred, what="the completion sensor to defer", timeout=RUN_TIMEOUT_SECONDS)
    # The sensor now waits in the triggerer. Someone at Kizen logs the follow-ups as done.
    for activity in emulator.control.activities():
        emulator.control.complete(activity["id"])
    airflow.watch(
        runs,
        lambda: all(run.finished for run in runs),
        what="the runs to finish",
        timeout=RUN_TIMEOUT_SECONDS,
    )

    assert manual.state == "success", manual.describe()
    assert followups.state == "success", followups.describe()
    # The completion sensor handed its wait to the triggerer, and came back once Kizen said "completed".
    (sensor_states,) = followups.tasks_of(SENSOR).values()
    assert "deferred" in sensor_states, followups.describe()
    assert sensor_states[-1] == "success", followups.describe()
    assert followups.final_states("no_escalation_needed") == ["success"], followups.describe()
    assert followups.final_states("schedule_escalations") == ["skipped"], followups.describe()
    # 6 rows need a follow-up; chunks of 4 make two mapped scheduling tasks.
    assert followups.final_states("schedule_followups") == ["success", "success"], followups.describe()

    activities = {activity["id"]: activity for activity in emulator.control.activities()}
    (created,) = [a for a in activities.values() if a["note"] == manual_conf["note"]]
    assert _contact_email(created) == manual_conf["contact_email"]
    assert created["activity_object"]["api_name"] == manual_conf["activity_type"]
    assert pendulum.parse(created["due_datetime"]) == due
    ledger = {row["record_key"]: row for row in _query(warehouse, f"SELECT * FROM {LEDGER_TABLE}")}
    assert set(ledger) == {row["record_key"] for row in requests}
    assert set(activities) == {row["activity_id"] for row in ledger.values()} | {created["id"]}
    for request in requests:
        activity = activities[ledger[request["record_key"]]["activity_id"]]
        assert _contact_email(activity) == request["contact_email"]
        assert activity["note"] == request["reason"]
    waited_for = airflow.xcom(WAREHOUSE_DAG, followups.run_id, task_id="wait_for_high_priority", map_index=0)
    assert {activity["id"] for activity in waited_for} == {
        ledger[key]["activity_id"] for key in high_priority
    }
    assert all(activity["completed_at"] for activity in waited_for)


def test_api_key_never_leaves_the_connection(airflow: LiveAirflow, emulator: Any) -> None:
    """Task logs, component logs, XComs and rendered fields of the runs above never hold the API key."""
    leaks = [
        str(path.relative_to(airflow.home))
        for path in airflow.home.rglob("*")
        if path.is_file() and path.suffix != ".db" and emulator.api_key in path.read_text(errors="replace")
    ]
    assert leaks == []
    with closing(sqlite3.connect(f"file:{airflow.home / 'airflow.db'}?mode=ro", uri=True)) as conn:
        xcoms = conn.execute(
            "SELECT COUNT(*), SUM(INSTR(value, ?)) FROM xcom", (emulator.api_key,)
        ).fetchone()
        rendered = conn.execute(
            "SELECT COUNT(*), SUM(INSTR(rendered_fields, ?)) FROM rendered_task_instance_fields",
            (emulator.api_key,),
        ).fetchone()
    assert xcoms[0] > 0
    assert xcoms[1] == 0
    assert rendered[0] > 0
    assert rendered[1] == 0
