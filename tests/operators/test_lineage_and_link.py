"""ScheduleActivityOperator's OpenLineage output and its link to Kizen's web app, through dag.test()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from airflow.utils.state import TaskInstanceState

from airflow_provider_kizen.links.kizen_app import KizenScheduledActivitiesLink

DAG_ID = "operator_lineage"
LINK_XCOM_KEY = KizenScheduledActivitiesLink().xcom_key  # where Airflow keeps each run's link


def test_the_link_opens_the_activity_or_the_list_at_the_connections_web_url(
    dag_bag, kizen_emulator, kizen_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pattern = "{web_url}/activity/{activity_id}?from=airflow"
    monkeypatch.setenv(
        "AIRFLOW_CONN_KIZEN_DEFAULT",
        f"{kizen_connection}&web_url={quote('https://kizen.example/app/')}&activity_link={quote(pattern)}",
    )

    dag_run = dag_bag.get_dag(DAG_ID).test()

    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    assert {ti.state for ti in tis.values()} == {TaskInstanceState.SUCCESS}
    (one,) = tis["schedule_one"].xcom_pull(task_ids="schedule_one", key="activity_ids")
    assert tis["schedule_one"].xcom_pull(task_ids="schedule_one", key=LINK_XCOM_KEY) == (
        f"https://kizen.example/app/activity/{one}?from=airflow"
    )
    assert tis["schedule_many"].xcom_pull(task_ids="schedule_many", key=LINK_XCOM_KEY) == (
        "https://kizen.example/app/activities"
    )


def test_the_link_defaults_to_the_base_url(dag_bag, kizen_emulator, kizen_connection: str) -> None:
    dag_run = dag_bag.get_dag(DAG_ID).test()

    ti = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "schedule_one")
    (one,) = ti.xcom_pull(task_ids="schedule_one", key="activity_ids")
    assert ti.xcom_pull(task_ids="schedule_one", key=LINK_XCOM_KEY) == (
        f"{kizen_emulator.base_url}/activities/scheduled/{one}"
    )


RUN_DAG = """
import sys
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).get_dag(sys.argv[2])
print("dag run state:", dag.test().state)
"""


def test_openlineage_reports_the_kizen_dataset_and_how_the_records_went(
    airflow_db: Path, kizen_emulator, kizen_connection: str, tmp_path: Path
) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the test extra installs it")
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
    }
    # Its own process: the OpenLineage provider reads its configuration once per process.
    finished = subprocess.run(
        [sys.executable, "-c", RUN_DAG, os.environ["AIRFLOW__CORE__DAGS_FOLDER"], DAG_ID],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "dag run state: success" in finished.stdout, finished.stdout[-3000:]

    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    completes = {
        event["job"]["name"]: event
        for event in events
        if event.get("eventType") == "COMPLETE" and event["job"]["name"].startswith(f"{DAG_ID}.")
    }
    assert set(completes) == {f"{DAG_ID}.schedule_one", f"{DAG_ID}.schedule_many"}
    host = kizen_emulator.base_url.removeprefix("http://")
    for event in completes.values():
        assert [(o["namespace"], o["name"]) for o in event["outputs"]] == [
            (f"kizen://{host}", f"{kizen_emulator.business_id}/scheduled-activities")
        ]
    facet = completes[f"{DAG_ID}.schedule_many"]["run"]["facets"]["kizen_scheduled_activities"]
    assert {key: facet[key] for key in ("created", "already_existed", "failed", "invalid")} == {
        "created": 2,
        "already_existed": 1,
        "failed": 0,
        "invalid": 1,
    }
    assert kizen_emulator.api_key not in events_file.read_text()
