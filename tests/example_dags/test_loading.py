"""Every example file stands alone: copied by itself into an empty DAGs folder, it parses cleanly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_provider_kizen.emulator import seed
from example_dags import kizen_sample_warehouse

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
EXAMPLE_DAG_IDS = {
    "kizen_warehouse_followups",
    "kizen_followup_escalation",
    "kizen_onboarding_cadence",
    "kizen_manual_followup",
}


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_DAG_IDS))
def test_each_example_parses_alone(airflow_db: Path, tmp_path: Path, dag_id: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    shutil.copy(EXAMPLES / f"{dag_id}.py", tmp_path)

    bag = DagBag(dag_folder=str(tmp_path))

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {dag_id}
    assert "kizen" in bag.get_dag(dag_id).tags


def test_the_sample_warehouse_script_imports_nothing_from_its_folder(tmp_path: Path) -> None:
    """It is run as a script from wherever it was copied to, so it must not need its neighbours."""
    source = (EXAMPLES / "kizen_sample_warehouse.py").read_text()
    assert "example_dags" not in source
    assert "from kizen_" not in source


def test_the_dags_folder_holds_exactly_the_examples(dag_bag) -> None:
    errors = {path: error for path, error in dag_bag.import_errors.items() if "example_dags" in path}
    assert errors == {}
    loaded = {dag_id for dag_id, dag in dag_bag.dags.items() if "example_dags" in str(dag.fileloc)}
    assert loaded == EXAMPLE_DAG_IDS


def test_sample_rows_use_the_emulator_seed_people_and_contacts() -> None:
    employees = {employee["first_name"]: employee["id"] for employee in seed.EMPLOYEES}
    assert employees["Jordan"] == kizen_sample_warehouse.JORDAN_ID
    assert employees["Priya"] == kizen_sample_warehouse.PRIYA_ID
    assert employees["Sam"] == kizen_sample_warehouse.SAM_ID
    emails = {row[1] for row in kizen_sample_warehouse.FOLLOWUP_REQUESTS}
    emails |= {customer[1] for customer in kizen_sample_warehouse.NEW_CUSTOMERS}
    assert emails <= set(seed.CONTACT_EMAILS)
