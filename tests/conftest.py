"""Test-run isolation shared by the whole suite.

Airflow reads its configuration when it is first imported, so the isolated AIRFLOW_HOME and
DAGS_FOLDER are set here, at import time, before any test module imports Airflow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The emulator's fixtures (kizen_emulator, kizen_emulator_server) are opt-in, as they are for users.
pytest_plugins = ["airflow_provider_kizen.emulator.pytest_plugin"]

REPO_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="kizen-airflow-home-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
IN_CI = os.environ.get("CI", "").lower() == "true"

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"airflow_provider_kizen\..*",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
# dag.test() only runs DAGs that live in the DAGs folder, so the test and example DAGs are copied in.
shutil.copytree(REPO_ROOT / "tests" / "dags", DAGS_FOLDER / "test_dags")
shutil.copytree(REPO_ROOT / "example_dags", DAGS_FOLDER / "example_dags")


def require_service(name: str, reason: str) -> None:
    """Skip when a service is missing on a developer's machine; fail under CI, where it must exist."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true requires it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate this run's own SQLite metadata database once; returns AIRFLOW_HOME."""
    airflow_cli = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow_cli), "db", "migrate"], check=True, capture_output=True)
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dag_bag(airflow_db: Path):  # type: ignore[no-untyped-def]
    """Every DAG in the test DAGs folder, parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture
def kizen_connection(kizen_emulator, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    """Point the `kizen_default` connection at the running emulator for one test."""
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", kizen_emulator.connection_uri)
    return kizen_emulator.connection_uri


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The local PostgreSQL warehouse (database `test`); skipped off CI when it is not running."""
    dsn = os.environ.get("KIZEN_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        import psycopg2

        psycopg2.connect(dsn, connect_timeout=3).close()
    except Exception as exc:
        require_service("PostgreSQL", f"{dsn}: {exc}")
    return dsn


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis (the distributed tests' Celery broker); skipped off CI when it is not running."""
    url = os.environ.get("KIZEN_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        require_service("Redis", f"{url}: {exc}")
    return url


@pytest.fixture
def create_scheduled_activities(kizen_connection: str):  # type: ignore[no-untyped-def]
    """Schedule `count` follow-up calls (due tomorrow) on the emulator; returns their ids in order."""
    from datetime import UTC, datetime, timedelta

    from airflow_provider_kizen.hooks.kizen import KizenHook

    def create(count: int) -> list[str]:
        due_datetime = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        hook = KizenHook()
        try:
            return [
                str(
                    hook.create_scheduled_activity(
                        {"activity_object_name": "follow_up_call", "due_datetime": due_datetime}
                    ).id
                )
                for _ in range(count)
            ]
        finally:
            hook.close()

    return create


@pytest.fixture
def kizen_api(kizen_emulator):  # type: ignore[no-untyped-def]
    """An httpx client signed in to the emulator, for doing what a Kizen user would do by hand."""
    import httpx

    with httpx.Client(base_url=kizen_emulator.base_url, headers=kizen_emulator.headers) as client:
        yield client


@pytest.fixture
def quick_retries(kizen_connection: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`kizen_default` with a retry back-off starting at 50 ms, for tests that inject faults."""
    uri = f"{kizen_connection}&backoff_initial_seconds=0.05&backoff_max_seconds=0.5"
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", uri)
    return uri
