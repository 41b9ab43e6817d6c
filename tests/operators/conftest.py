"""Fixtures for the operator tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dag_bag(airflow_db: Path):  # type: ignore[no-untyped-def]
    """Every DAG in the test DAGs folder, parsed once.

    Airflow 3.3's DagBag no longer takes `include_examples` (examples are off in the test config).
    """
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
