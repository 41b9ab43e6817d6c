"""Every example DAG parses cleanly, and its defaults match the emulator the docs and demo use."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_kizen.emulator import seed
from example_dags import kizen_example_support, kizen_sample_warehouse

EXAMPLE_DAG_IDS = {"kizen_warehouse_followups", "kizen_onboarding_cadence", "kizen_manual_followup"}


def test_example_dags_load_without_import_errors(dag_bag) -> None:
    example_errors = {path: error for path, error in dag_bag.import_errors.items() if "example_dags" in path}
    assert example_errors == {}
    loaded = {dag_id for dag_id, dag in dag_bag.dags.items() if "example_dags" in str(dag.fileloc)}
    assert loaded == EXAMPLE_DAG_IDS
    for dag_id in EXAMPLE_DAG_IDS:
        dag = dag_bag.get_dag(dag_id)
        assert "kizen" in dag.tags
        assert Path(dag.fileloc).name == f"{dag_id}.py"


def test_default_role_ids_are_the_emulator_seed_roles() -> None:
    roles = {role["name"]: role["id"] for role in seed.ROLES}
    assert roles["Account Manager"] == kizen_example_support.ACCOUNT_MANAGER_ROLE_ID
    assert roles["Customer Success"] == kizen_example_support.CUSTOMER_SUCCESS_ROLE_ID


def test_sample_rows_use_the_emulator_seed_people_and_contacts() -> None:
    employees = {employee["first_name"]: employee["id"] for employee in seed.EMPLOYEES}
    assert employees["Jordan"] == kizen_sample_warehouse.JORDAN_ID
    assert employees["Priya"] == kizen_sample_warehouse.PRIYA_ID
    assert employees["Sam"] == kizen_sample_warehouse.SAM_ID
    emails = {row[1] for row in kizen_sample_warehouse.FOLLOWUP_REQUESTS}
    emails |= {customer[1] for customer in kizen_sample_warehouse.NEW_CUSTOMERS}
    assert emails <= set(seed.CONTACT_EMAILS)
