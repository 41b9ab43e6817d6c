"""A distributed Airflow on loopback: the CeleryExecutor on Redis, PostgreSQL as the metadata database.

Two Celery workers and two triggerers run next to the scheduler, the dag-processor and the API server,
so a test can kill one worker or one triggerer and watch the other take over. The run gets a
PostgreSQL database of its own (created here, dropped afterwards) and a Redis namespace of its own
(a database number, a key prefix and a queue name; its keys are deleted afterwards), so parallel runs
on one PostgreSQL and one Redis cannot see each other.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .airflow_process import COMPONENTS, LiveAirflow, running_airflow

WORKERS = ("worker-a", "worker-b")
TRIGGERERS = ("triggerer-a", "triggerer-b")
# Each worker runs two tasks at once: enough for a DAG's parallel branches, frugal on a small machine.
WORKER_CONCURRENCY = 2
STARTUP_TIMEOUT_SECONDS = 300

# Short heartbeats and thresholds, so a killed worker or triggerer is noticed in seconds, not minutes.
FAILOVER_SETTINGS = {
    # A task whose worker died is failed (and retried) after this long without a heartbeat.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "12",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
    # A triggerer silent for this long counts as dead, and its triggers go to another triggerer.
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "20",
    # How soon the scheduler fails a deferred task whose deadline has passed, whoever runs its trigger.
    "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
}


@dataclass(frozen=True)
class RedisNamespace:
    """Where one run's Celery keeps its messages in a shared Redis."""

    url: str  # with the database number
    key_prefix: str
    queue: str


@contextlib.contextmanager
def postgres_database(admin_dsn: str) -> Iterator[str]:
    """A new, empty database on the server of `admin_dsn` for one run; yields its SQLAlchemy URL and
    drops it afterwards. The user of `admin_dsn` must be allowed to create databases."""
    import psycopg2
    from sqlalchemy.engine import make_url

    name = f"kizen_airflow_{secrets.token_hex(6)}"
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(admin_dsn).set(drivername="postgresql+psycopg2", database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.cursor() as cursor:
                # FORCE ends the sessions that killed components left behind.
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@contextlib.contextmanager
def redis_namespace(redis_url: str) -> Iterator[RedisNamespace]:
    """A Redis database number, key prefix and queue for one run; deletes the run's keys afterwards."""
    import redis

    token = secrets.token_hex(6)
    # Database 0 is the one everybody uses by default; spread runs over the others.
    url = f"{redis_url.rstrip('/')}/{1 + secrets.randbelow(15)}"
    namespace = RedisNamespace(url=url, key_prefix=f"kizen-test-{token}:", queue=f"kizen-test-{token}")
    try:
        yield namespace
    finally:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{namespace.key_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def celery_env(metadata_url: str, broker: RedisNamespace) -> dict[str, str]:
    """The settings that make an Airflow distributed: executor, metadata database, broker, result backend."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": broker.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": broker.key_prefix,
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": broker.queue,
        "AIRFLOW__CORE__PARALLELISM": str(len(WORKERS) * WORKER_CONCURRENCY),
        **FAILOVER_SETTINGS,
    }


def distributed_components(queue: str) -> dict[str, list[str]]:
    """The API server, scheduler and dag-processor, two triggerers and two Celery workers."""
    components = {name: list(COMPONENTS[name]) for name in ("api-server", "scheduler", "dag-processor")}
    for triggerer in TRIGGERERS:
        components[triggerer] = list(COMPONENTS["triggerer"])
    for worker in WORKERS:
        # --skip-serve-logs: two log servers on one machine would both want the same fixed port.
        components[worker] = [
            *("celery", "worker", "--skip-serve-logs", "--celery-hostname", worker),
            *("--queues", queue, "--concurrency", str(WORKER_CONCURRENCY)),
            *("--without-gossip", "--without-mingle"),
        ]
    return components


@contextlib.contextmanager
def running_distributed_airflow(
    home: Path, dags_folder: Path, *, postgres_dsn: str, redis_url: str, extra_env: Mapping[str, str]
) -> Iterator[LiveAirflow]:
    """Start the whole distributed Airflow, and wait until both Celery workers take tasks.

    `postgres_dsn` names a PostgreSQL server (and a database to connect to there) and `redis_url` a
    Redis server, without a database number.
    """
    with postgres_database(postgres_dsn) as metadata_url, redis_namespace(redis_url) as broker:
        env = {**celery_env(metadata_url, broker), **extra_env}
        components = distributed_components(broker.queue)
        # Seven components start at once; on a busy two-core machine that takes minutes, not seconds.
        with running_airflow(
            home, dags_folder, extra_env=env, components=components, startup_timeout=STARTUP_TIMEOUT_SECONDS
        ) as airflow:
            for worker in WORKERS:
                airflow.wait_for_log(worker, f"celery@{worker} ready.")
            yield airflow
