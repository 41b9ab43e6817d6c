"""The same records scheduled two ways: one mapped HttpOperator task per record, and one batched task.

`kizen_http` is an `http` connection whose extra carries Kizen's three headers (what a hand-written
DAG uses); `kizen_default` is the provider's `kizen` connection. Both point at the emulator. The
records are `benchmarks.common.payloads`, as in the other benchmarks (the benchmark runs from the
repository root, so `benchmarks` imports).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator
from benchmarks.common import payloads as benchmark_payloads

RECORDS = int(os.environ.get("KIZEN_BENCHMARK_RECORDS", "200"))
START = datetime(2026, 1, 1, tzinfo=UTC)


with DAG("benchmark_mapped_http", schedule=None, start_date=START):

    @task
    def bodies() -> list[str]:
        return [json.dumps(payload) for payload in benchmark_payloads(RECORDS)]

    HttpOperator.partial(
        task_id="create_activity",
        http_conn_id="kizen_http",
        endpoint="/api/activities/scheduled-activity",
        method="POST",
        log_response=False,
    ).expand(data=bodies())


with DAG("benchmark_batched_kizen", schedule=None, start_date=START):

    @task
    def payloads() -> list[dict[str, Any]]:
        return benchmark_payloads(RECORDS, start=RECORDS)

    ScheduleActivityOperator(task_id="create_activities", payload=payloads(), max_concurrency=16)
