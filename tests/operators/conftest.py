"""Running the DAGs of tests/dags with dag.test() and reading what their tasks returned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def run_test_dag(dag_bag) -> Callable[..., dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Run a DAG from tests/dags once with `conf`; its task instances by task id (mapped ones in a list)."""

    def run(dag_id: str, **conf: Any) -> dict[str, Any]:
        dag = dag_bag.get_dag(dag_id)
        assert dag is not None, dag_bag.import_errors
        dag_run = dag.test(run_conf=conf or None)
        task_instances: dict[str, Any] = {}
        for ti in dag_run.get_task_instances():
            if ti.map_index >= 0:
                task_instances.setdefault(ti.task_id, []).append(ti)
            else:
                task_instances[ti.task_id] = ti
        return task_instances

    return run
