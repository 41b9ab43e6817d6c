"""Warehouses for the example DAG tests (an SQLite file or a PostgreSQL schema) and a dag.test() runner."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

WAREHOUSE_CONN_ID = "kizen_warehouse"


# The tests import the sample warehouse as `example_dags.kizen_sample_warehouse` from the DAGs folder.
if os.environ["AIRFLOW__CORE__DAGS_FOLDER"] not in sys.path:
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


class Warehouse:
    """The `kizen_warehouse` connection the example DAGs use, as this test set it."""

    def hook(self) -> Any:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()

    def rows(self, sql: str) -> list[dict[str, Any]]:
        with closing(self.hook().get_conn()) as conn, closing(conn.cursor()) as cursor:
            cursor.execute(sql)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Warehouse]:
    """`kizen_warehouse` pointing at an empty SQLite file, or at an empty PostgreSQL schema.

    The example DAGs name their tables without a schema, so on PostgreSQL the connection's
    `options` extra puts a throwaway schema first on the search path.
    """
    if request.param == "sqlite":
        monkeypatch.setenv(
            "AIRFLOW_CONN_KIZEN_WAREHOUSE", "sqlite://" + quote(str(tmp_path / "warehouse.db"), safe="")
        )
        yield Warehouse()
        return
    import psycopg2

    dsn = request.getfixturevalue("postgres_dsn")
    schema = f"kizen_example_{uuid.uuid4().hex[:12]}"
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in dsn else "?"
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_WAREHOUSE", f"{dsn}{separator}options=-csearch_path%3D{schema}")
    try:
        yield Warehouse()
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
    # task_id -> the return values of its task instances, None for those that returned nothing
    returned: dict[str, list[Any]]


@pytest.fixture
def run_dag(dag_bag: Any, kizen_connection: str):  # type: ignore[no-untyped-def]
    """Run an example DAG once with dag.test() against the emulator; returns its states and return values."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    def run(dag_id: str, conf: dict[str, Any]) -> RunResult:
        parsed = dag_bag.get_dag(dag_id)
        assert parsed is not None, dag_bag.import_errors
        # dag.test() runs the tasks in this process, and resolving a run's params writes its conf into
        # the DAG's own Param objects: a later run of the same DAG object would inherit that conf. So
        # each run gets its DAG freshly parsed.
        dag = DagBag(dag_folder=parsed.fileloc).get_dag(dag_id)
        dag_run = dag.test(run_conf=conf)
        with create_session() as session:
            instances = (
                session.query(TaskInstance)
                .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id)
                .order_by(TaskInstance.task_id, TaskInstance.map_index)
                .all()
            )
            states: dict[str, list[str]] = {}
            returned: dict[str, list[Any]] = {}
            for instance in instances:
                states.setdefault(instance.task_id, []).append(str(instance.state))
                value = instance.xcom_pull(
                    task_ids=instance.task_id, map_indexes=instance.map_index, session=session
                )
                returned.setdefault(instance.task_id, []).append(value)
        return RunResult(str(dag_run.state), states, returned)

    return run
