"""The example DAGs on a real Airflow: API server, scheduler, dag-processor and triggerer.

One Airflow and one Kizen emulator serve the whole module. Runs are triggered through the REST API
with a `conf`, exactly as the UI's trigger form does, and observed through the REST API too.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pendulum
import pytest

from .airflow_process import LiveAirflow, running_airflow, wait_for

pytestmark = pytest.mark.live_airflow

REPO_ROOT = Path(__file__).resolve().parents[2]
MANUAL_DAG = "kizen_manual_followup"
WAREHOUSE_DAG = "kizen_warehouse_followups"
SENSOR = "ScheduledActivityCompletedSensor"
# Long enough for the high-priority sensor to be seen deferred, short enough to keep the test quick.
COMPLETE_AFTER_SECONDS = 15
RUN_TIMEOUT_SECONDS = 150


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_kizen.emulator.testing import running_emulator

    with running_emulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TABLE kizen_followup_requests (record_key TEXT PRIMARY KEY, contact_email TEXT, "
            "timezone TEXT, priority TEXT, reason TEXT, owner_employee_id TEXT, needs_followup INTEGER)"
        )
        conn.executemany(
            "INSERT INTO kizen_followup_requests VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                ("r1", "ada.lovelace@example.com", "Europe/London", "high", "Renewal", None, 1),
                ("r2", "alan.turing@example.com", "Europe/London", "low", "Upsell", None, 1),
                ("r3", "katherine.johnson@example.com", "America/New_York", "high", "Churn risk", None, 1),
                ("r4", "donald.knuth@example.com", "America/Los_Angeles", "low", "Survey", None, 1),
                ("r5", "barbara.liskov@example.com", "America/New_York", "low", "Done", None, 0),
            ],
        )
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
        "AIRFLOW_CONN_KIZEN_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
    }
    with running_airflow(home, dags_folder, extra_env=connections) as live:
        live.wait_for_dags([MANUAL_DAG, WAREHOUSE_DAG])
        for dag_id in (MANUAL_DAG, WAREHOUSE_DAG):
            live.unpause(dag_id)
        yield live
    stray = wait_for(
        "every Airflow process to exit",
        lambda: None if live.stray_processes() else [],
        timeout=15,
        on_timeout=f": still running {live.stray_processes()}",
    )
    assert stray == []


def _warehouse_rows_needing_followup(warehouse: Path) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(warehouse)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM kizen_followup_requests WHERE needs_followup = 1").fetchall()
    return [dict(row) for row in rows]


def _ledger(warehouse: Path) -> dict[str, dict[str, Any]]:
    with closing(sqlite3.connect(warehouse)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM kizen_followup_ledger").fetchall()
    return {row["record_key"]: dict(row) for row in rows}


def _contact_of(activity: dict[str, Any]) -> str:
    (entity,) = activity["associated_entities"]
    return str(entity["entity"]["email"] or entity["entity"]["name"])


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
    emulator.control.auto_complete(after_seconds=COMPLETE_AFTER_SECONDS)
    due = pendulum.now("UTC").add(days=2).replace(microsecond=0)
    manual_conf = {
        "contact_email": "grace.hopper@example.com",
        "activity_type": "proposal_review",
        "due_datetime": due.isoformat(),
        "note": "Walk through the proposal.\nBring the compiler benchmarks.",
        "reminders": [{"type": "text", "time_amount": 15, "time_unit": "minute"}],
    }
    warehouse_conf = {"chunk_size": 3, "poke_interval_seconds": 2, "completion_timeout_seconds": 120}
    expected_rows = _warehouse_rows_needing_followup(warehouse)

    runs = []
    for dag_id, conf in ((MANUAL_DAG, manual_conf), (WAREHOUSE_DAG, warehouse_conf)):
        response = airflow.trigger(dag_id, conf)
        assert response.status_code == 200, response.text
        runs.append((dag_id, response.json()["dag_run_id"]))
    watches = airflow.watch_runs(runs, timeout=RUN_TIMEOUT_SECONDS)
    manual, followups = (watches[run] for run in runs)

    assert manual.state == "success", manual.describe()
    assert followups.state == "success", followups.describe()
    sensors = followups.tasks_of(SENSOR)
    assert sensors, followups.describe()
    for states in sensors.values():
        assert "deferred" in states, followups.describe()
        assert states[-1] == "success", followups.describe()
    assert followups.task_states["no_escalation_needed"][-1] == "success", followups.describe()

    activities = emulator.control.activities()
    by_note = {activity["note"]: activity for activity in activities}
    created = by_note[manual_conf["note"]]
    assert _contact_of(created) == "grace.hopper@example.com"
    assert pendulum.parse(created["due_datetime"]) == due
    ledger = _ledger(warehouse)
    assert set(ledger) == {row["record_key"] for row in expected_rows}
    assert {row["activity_id"] for row in ledger.values()} | {created["id"]} == {a["id"] for a in activities}
    assert all(activity["completed_at"] for activity in activities)


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
