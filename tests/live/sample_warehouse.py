"""The example warehouse DAG's SQLite warehouse, filled with its sample rows, for the live tests."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

# The warehouse DAG's default connection and tables.
WAREHOUSE_CONN_ID = "kizen_warehouse"
SOURCE_TABLE = "kizen_followup_requests"
LEDGER_TABLE = "kizen_followup_ledger"
EXAMPLES_FOLDER = Path(__file__).resolve().parents[2] / "example_dags"


def sqlite_connection(path: Path) -> str:
    """The Airflow connection (JSON form) to an SQLite file."""
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


def connection_env(path: Path) -> dict[str, str]:
    """The environment variable that defines the warehouse connection for Airflow's components."""
    return {f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": sqlite_connection(path)}


def create_sample_warehouse(path: Path) -> None:
    """Create `path` holding the example DAG's sample follow-up requests."""
    with pytest.MonkeyPatch.context() as patch:
        # Each example file stands alone, so its module imports by file name from the examples folder.
        patch.syspath_prepend(str(EXAMPLES_FOLDER))
        for name, value in connection_env(path).items():
            patch.setenv(name, value)
        from airflow.sdk import BaseHook
        from kizen_sample_warehouse import create_followup_requests

        create_followup_requests(BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook())


def query(path: Path, sql: str) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql).fetchall()]
