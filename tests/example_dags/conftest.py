"""Warehouses for the example DAG tests: a fresh SQLite file, or a throwaway PostgreSQL schema."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

WAREHOUSE_CONN_ID = "kizen_warehouse"


# Airflow puts the DAGs folder on sys.path to parse DAGs, and the example DAGs import their shared
# helpers from there (`example_dags.kizen_example_support`). The tests import them the same way.
if os.environ["AIRFLOW__CORE__DAGS_FOLDER"] not in sys.path:
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@dataclass
class Warehouse:
    schema: str | None  # None on SQLite

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}" if self.schema else name

    def hook(self) -> Any:
        from example_dags.kizen_example_support import warehouse_hook

        return warehouse_hook(WAREHOUSE_CONN_ID)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        from example_dags.kizen_example_support import query_dicts

        return query_dicts(self.hook(), sql)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Warehouse]:
    """The `kizen_warehouse` connection, pointing at an empty SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        monkeypatch.setenv(
            "AIRFLOW_CONN_KIZEN_WAREHOUSE", "sqlite://" + quote(str(tmp_path / "warehouse.db"), safe="")
        )
        yield Warehouse(None)
        return
    import psycopg2

    dsn = request.getfixturevalue("postgres_dsn")
    schema = f"kizen_example_{uuid.uuid4().hex[:12]}"
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_WAREHOUSE", dsn)
    try:
        yield Warehouse(schema)
    finally:
        conn = psycopg2.connect(dsn)
        try:
            with conn, conn.cursor() as cursor:
                cursor.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            conn.close()


@dataclass
class RunResult:
    state: str
    # task_id -> the states of its task instances (one per mapped index)
    task_states: dict[str, list[str]]


@pytest.fixture
def run_dag(dag_bag: Any, kizen_connection: str):  # type: ignore[no-untyped-def]
    """Run an example DAG once with dag.test() against the emulator; returns the run's states."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    def run(dag_id: str, conf: dict[str, Any]) -> RunResult:
        dag = dag_bag.get_dag(dag_id)
        assert dag is not None, dag_bag.import_errors
        dag_run = dag.test(run_conf=conf)
        with create_session() as session:
            instances = (
                session.query(TaskInstance)
                .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id)
                .order_by(TaskInstance.task_id, TaskInstance.map_index)
                .all()
            )
            states: dict[str, list[str]] = {}
            for instance in instances:
                states.setdefault(instance.task_id, []).append(str(instance.state))
        return RunResult(str(dag_run.state), states)

    return run
