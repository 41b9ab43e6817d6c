"""Batch creation against the latency-bound limit, and against the loops users would otherwise write.

Each run, side by side against one emulator with injected latency:

- the operator's batch path (`ScheduleActivityOperator.execute`) creating `--records` activities with
  `--concurrency` requests in flight; its wall time is compared to records x latency / concurrency;
- the same creates sent by a bare `httpx.AsyncClient` with the same number in flight, no validation,
  retries or ledger: how much of the batch's time is the HTTP client itself;
- a sequential loop over `KizenHook.create_scheduled_activity` (one hook, pooled connection);
- a sequential loop over `HttpHook(method="POST").run(...)` from apache-airflow-providers-http, with a
  connection whose extra carries the three Kizen headers: what users write by hand.

The two loops take `--sequential-records` records (a full 1,000 would take 50 s each per run at 50 ms);
their time per record is scaled to `--records`. Then, with no injected latency, the operator's
creates per second.

    python -m benchmarks.batch_creation [--runs 3] [--records 1000] [--latency-ms 50] [--concurrency 16]
                                        [--sequential-records 100] [--emulator process|thread]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    ACTIVITIES_PATH,
    HEADERS,
    emit,
    emulator,
    http_connection_json,
    median,
    payloads,
    run_operator_batch,
)
from benchmarks.httpx_pool import send_all

HTTP_CONN_ID = "kizen_http"


def hook_loop(records: list[dict[str, Any]]) -> None:
    from airflow_provider_kizen.hooks.kizen import KizenHook

    hook = KizenHook()
    try:
        for record in records:
            hook.create_scheduled_activity(record)
    finally:
        hook.close()


def http_hook_loop(records: list[dict[str, Any]]) -> None:
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="POST", http_conn_id=HTTP_CONN_ID)
    for record in records:
        hook.run(ACTIVITIES_PATH, json=record)


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential-records", type=int, default=100)
    parser.add_argument("--fast-records", type=int, default=3000, help="records for the no-latency run")
    parser.add_argument("--emulator", choices=("process", "thread"), default="process")
    args = parser.parse_args()

    with emulator(args.emulator) as emu:
        os.environ["AIRFLOW_CONN_KIZEN_DEFAULT"] = emu.connection_uri
        os.environ[f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}"] = http_connection_json(emu.base_url)
        warm_up = payloads(20)
        run_operator_batch(warm_up, max_concurrency=args.concurrency)
        hook_loop(warm_up[:3])
        http_hook_loop(warm_up[:3])

        def with_latency(work: Callable[[], object]) -> float:
            emu.control.reset()
            emu.control.set_faults(latency_ms=args.latency_ms)
            return timed(work)

        batch, bare, hook, http, fast = [], [], [], [], []
        records = payloads(args.records)
        sequential = records[: args.sequential_records]
        fast_records = payloads(args.fast_records)
        for run in range(args.runs):
            batch.append(with_latency(lambda: run_operator_batch(records, max_concurrency=args.concurrency)))
            bare.append(
                with_latency(
                    lambda: asyncio.run(send_all(emu.base_url, HEADERS, records, 1, args.concurrency))
                )
            )
            hook.append(with_latency(lambda: hook_loop(sequential)) / len(sequential))
            http.append(with_latency(lambda: http_hook_loop(sequential)) / len(sequential))
            emu.control.reset()
            fast.append(
                len(fast_records)
                / timed(lambda: run_operator_batch(fast_records, max_concurrency=args.concurrency))
            )
            print(
                f"run {run + 1}: batch {batch[-1]:.2f} s, bare httpx {bare[-1]:.2f} s, "
                f"hook loop {hook[-1] * 1000:.1f} ms/record, "
                f"HttpHook loop {http[-1] * 1000:.1f} ms/record, no latency {fast[-1]:.0f} creates/s",
                flush=True,
            )

    limit = args.records * args.latency_ms / 1000 / args.concurrency
    batch_s = median(batch)
    emit(
        {
            "emulator": args.emulator,
            "runs": args.runs,
            "records": args.records,
            "latency_ms": args.latency_ms,
            "concurrency": args.concurrency,
            "sequential_records": args.sequential_records,
            "limit_s": limit,
            "batch_s": batch_s,
            "batch_ratio_to_limit": batch_s / limit,
            "bare_httpx_s": median(bare),
            "bare_httpx_ratio_to_limit": median(bare) / limit,
            "hook_loop_s": median(hook) * args.records,
            "http_hook_loop_s": median(http) * args.records,
            "speedup_vs_hook_loop": median(hook) * args.records / batch_s,
            "speedup_vs_http_hook_loop": median(http) * args.records / batch_s,
            "fast_records": args.fast_records,
            "creates_per_s": median(fast),
            "batch_runs_s": batch,
        }
    )


if __name__ == "__main__":
    main()
