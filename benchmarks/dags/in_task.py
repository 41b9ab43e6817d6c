"""The operator as users run it: a task in a DAG run, with the ledger, template rendering and task logs.

Two DAGs for `benchmarks/in_task.py`: `benchmark_in_task` (run with injected latency) and
`benchmark_in_task_fast` (run without). Each first runs a small warm-up batch, so that the process's
one-time start-up (Airflow's first task, the provider's first requests) is not counted; then the
operator on payloads written into the DAG file, which Airflow renders as a template field; then the
same creates sent by a bare `httpx.AsyncClient`, and by bare aiohttp (the floor this machine and
this emulator allow), in the same DAG run. The measured tasks push their wall time and the process's
CPU time (`time.process_time`, every thread) as XCom.

The emulator's address comes from KIZEN_BENCHMARK_BASE_URL, the `kizen_default` connection from
AIRFLOW_CONN_KIZEN_DEFAULT; KIZEN_BENCHMARK_PROFILE names a file for a pyinstrument profile of the
operator's task (rendering and execute()).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator
from benchmarks.common import ACTIVITIES_PATH, HEADERS, payloads, stopwatch
from benchmarks.httpx_pool import send_all

RECORDS = int(os.environ.get("KIZEN_BENCHMARK_RECORDS", "1000"))
FAST_RECORDS = int(os.environ.get("KIZEN_BENCHMARK_FAST_RECORDS", "3000"))
CONCURRENCY = 16
WARM_UP_RECORDS = 20
START = datetime(2026, 1, 1, tzinfo=UTC)


class MeasuredScheduleActivityOperator(ScheduleActivityOperator):
    """The operator, unchanged, timing its template rendering and its execute() (XCom `measured`)."""

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        profile = os.environ.get("KIZEN_BENCHMARK_PROFILE")
        if profile:
            from pyinstrument import Profiler

            self._profiler = Profiler(interval=0.0005)
            self._profiler.start()
        started = time.perf_counter()
        super().render_template_fields(context, jinja_env)
        self._render_s = time.perf_counter() - started

    def execute(self, context: Any) -> Any:
        started_at = datetime.now(UTC)
        with stopwatch() as figures:
            results = super().execute(context)
        figures["started_at"], figures["ended_at"] = started_at.timestamp(), datetime.now(UTC).timestamp()
        profiler = getattr(self, "_profiler", None)
        if profiler is not None:
            profiler.stop()
            Path(os.environ["KIZEN_BENCHMARK_PROFILE"]).write_text(
                profiler.output_text(unicode=True, show_all=False)
            )
        context["ti"].xcom_push(
            key="measured", value={**figures, "render_s": self._render_s, "records": len(results)}
        )
        return results


async def send_with_aiohttp(base_url: str, bodies: list[dict[str, Any]]) -> None:
    """POST every body, CONCURRENCY at a time, through one aiohttp session."""
    import aiohttp

    remaining = iter(bodies)
    async with aiohttp.ClientSession(base_url=base_url, headers=HEADERS) as session:

        async def worker() -> None:
            for body in remaining:
                async with session.post(ACTIVITIES_PATH, json=body) as response:
                    response.raise_for_status()
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def benchmark_dag(dag_id: str, records: int) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:

        @task
        def bare_httpx() -> dict[str, float]:
            """The same creates from a bare httpx.AsyncClient: no validation, retries, ledger or logs."""
            bodies = payloads(records)
            with stopwatch() as figures:
                asyncio.run(send_all(os.environ["KIZEN_BENCHMARK_BASE_URL"], HEADERS, bodies, 1, CONCURRENCY))
            return figures

        @task
        def bare_aiohttp() -> dict[str, float]:
            """The same creates from bare aiohttp: no httpx, validation, retries, ledger or logs."""
            bodies = payloads(records)
            with stopwatch() as figures:
                asyncio.run(send_with_aiohttp(os.environ["KIZEN_BENCHMARK_BASE_URL"], bodies))
            return figures

        warm_up = ScheduleActivityOperator(
            task_id="warm_up", payload=payloads(WARM_UP_RECORDS, start=records), max_concurrency=CONCURRENCY
        )
        batch = MeasuredScheduleActivityOperator(
            task_id="create_activities", payload=payloads(records), max_concurrency=CONCURRENCY
        )
        warm_up >> batch >> bare_httpx() >> bare_aiohttp()
    return dag


benchmark_dag("benchmark_in_task", RECORDS)
benchmark_dag("benchmark_in_task_fast", FAST_RECORDS)
