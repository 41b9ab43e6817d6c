"""ScheduleActivityOperator as users run it: a task under `dag.test()`, ledger, rendering and logs included.

The benchmark gets its own AIRFLOW_HOME (a fresh SQLite metadata database, `airflow db migrate`) with
`benchmarks/dags/in_task.py` in its DAGs folder, and one emulator in its own process. Each DAG run
has a warm-up batch, then the operator on `--records` literal payloads (16 in flight; its
`task_state_store` ledger on, its payload rendered as a template field, the task log at INFO as
Airflow's default), then the same creates from a bare `httpx.AsyncClient`, and from bare aiohttp (the
floor this machine and this emulator allow), in the same run.

- With `--latency-ms` injected: the task's duration (the task instance's start to end, as Airflow
  records it) and the operator's execute() against the latency-bound limit records x latency / 16;
  the time spent rendering the payload; the client CPU per create of each task (the process's CPU
  time, every thread, over execute() and over the bare client's batch).
- With no latency, `--fast-records` creates: creates per second of each, and the CPU per create.

`--profile FILE` writes a pyinstrument profile of the operator's task (rendering and execute()) in
one extra run with latency.

    python -m benchmarks.in_task [--runs 3] [--records 1000] [--fast-records 3000] [--latency-ms 50]
                                 [--profile FILE]
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from benchmarks.common import airflow_home, emit, emulator, median, run_child

CONCURRENCY = 16


def child(base_url: str, runs: int, latency_ms: float, profile: str | None) -> None:
    """Runs inside the benchmark's AIRFLOW_HOME: parse the DAGs once, then time dag.test() runs."""
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_kizen.emulator.testing import EmulatorControl

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"the benchmark DAGs did not load: {bag.import_errors}")
    control = EmulatorControl(base_url)
    plan = [("latency", "benchmark_in_task", latency_ms), ("fast", "benchmark_in_task_fast", 0.0)] * runs
    if profile:
        plan.append(("profile", "benchmark_in_task", latency_ms))
    measured: dict[str, list[dict[str, Any]]] = {"latency": [], "fast": []}
    for kind, dag_id, latency in plan:
        control.reset()
        control.set_faults(latency_ms=latency)
        if kind == "profile":
            os.environ["KIZEN_BENCHMARK_PROFILE"] = profile or ""
        figures = run_once(bag, dag_id)
        created = len(control.activities())
        expected = 3 * figures["records"] + figures["warm_up_records"]
        if created != expected:
            raise RuntimeError(f"{dag_id}: {created} activities created, expected {expected}")
        if kind != "profile":
            measured[kind].append(figures)
        print(f"{kind}: {json.dumps(figures)}", flush=True)
    control.close()
    emit(measured)


def run_once(bag: Any, dag_id: str) -> dict[str, Any]:
    """One dag.test() of `dag_id`: the measured tasks' figures and the task instance durations."""
    dag = bag.get_dag(dag_id)
    assert dag is not None
    dag_run = dag.test()
    if dag_run.state != "success":
        raise RuntimeError(f"{dag_id}: the DAG run ended {dag_run.state}")
    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    batch, bare = tis["create_activities"], tis["bare_httpx"]
    operator = batch.xcom_pull(task_ids="create_activities", key="measured")
    bare_figures = bare.xcom_pull(task_ids="bare_httpx")
    floor_figures = tis["bare_aiohttp"].xcom_pull(task_ids="bare_aiohttp")
    return {
        "records": operator["records"],
        "warm_up_records": len(dag.get_task("warm_up").payload),
        "task_s": (batch.end_date - batch.start_date).total_seconds(),
        # The task's time outside execute(): start-up and rendering before, results to XCom after.
        "before_execute_s": operator["started_at"] - batch.start_date.timestamp(),
        "after_execute_s": batch.end_date.timestamp() - operator["ended_at"],
        "execute_s": operator["wall_s"],
        "execute_cpu_s": operator["cpu_s"],
        "execute_thread_cpu_s": operator["thread_cpu_s"],
        "render_s": operator["render_s"],
        "bare_task_s": (bare.end_date - bare.start_date).total_seconds(),
        "bare_s": bare_figures["wall_s"],
        "bare_cpu_s": bare_figures["cpu_s"],
        "bare_thread_cpu_s": bare_figures["thread_cpu_s"],
        "floor_s": floor_figures["wall_s"],
        "floor_cpu_s": floor_figures["cpu_s"],
        "floor_thread_cpu_s": floor_figures["thread_cpu_s"],
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over runs, and per-create figures from them."""
    records = runs[0]["records"]
    keys = (
        "task_s",
        "before_execute_s",
        "after_execute_s",
        "execute_s",
        "execute_cpu_s",
        "render_s",
        "bare_task_s",
        "bare_s",
        "bare_cpu_s",
        "floor_s",
        "floor_cpu_s",
        "execute_thread_cpu_s",
        "bare_thread_cpu_s",
        "floor_thread_cpu_s",
    )
    summary: dict[str, Any] = {key: median([run[key] for run in runs]) for key in keys}
    cpu_ratios = [run["execute_cpu_s"] / run["bare_cpu_s"] for run in runs]
    summary |= {
        "records": records,
        "cpu_us_per_create": summary["execute_cpu_s"] / records * 1e6,
        "bare_cpu_us_per_create": summary["bare_cpu_s"] / records * 1e6,
        "floor_cpu_us_per_create": summary["floor_cpu_s"] / records * 1e6,
        "floor_creates_per_s": records / summary["floor_s"],
        "cpu_ratio_to_bare": median(cpu_ratios),
        "thread_cpu_us_per_create": summary["execute_thread_cpu_s"] / records * 1e6,
        "bare_thread_cpu_us_per_create": summary["bare_thread_cpu_s"] / records * 1e6,
        "floor_thread_cpu_us_per_create": summary["floor_thread_cpu_s"] / records * 1e6,
        "thread_cpu_ratio_to_bare": median(
            [run["execute_thread_cpu_s"] / run["bare_thread_cpu_s"] for run in runs]
        ),
        "creates_per_s": records / summary["execute_s"],
        "bare_creates_per_s": records / summary["bare_s"],
        "speed_ratio_to_bare": median([run["bare_s"] / run["execute_s"] for run in runs]),
        "runs": runs,
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--fast-records", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--profile", metavar="FILE", help="write a pyinstrument profile of the task here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.runs, args.latency_ms, args.profile)
        return

    with airflow_home("in_task.py") as env, emulator() as emu:
        env |= {
            "KIZEN_BENCHMARK_RECORDS": str(args.records),
            "KIZEN_BENCHMARK_FAST_RECORDS": str(args.fast_records),
            "KIZEN_BENCHMARK_BASE_URL": emu.base_url,
            "AIRFLOW_CONN_KIZEN_DEFAULT": emu.connection_uri,
            # What a deployment logs by default; the per-request cost of logging is part of the task.
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
        arguments = [emu.base_url, "--runs", str(args.runs), "--latency-ms", str(args.latency_ms)]
        if args.profile:
            arguments += ["--profile", os.path.abspath(args.profile)]
        measured = run_child("benchmarks.in_task", arguments, env)
    limit = args.records * args.latency_ms / 1000 / CONCURRENCY
    latency, fast = summarise(measured["latency"]), summarise(measured["fast"])
    emit(
        {
            "runs": args.runs,
            "latency_ms": args.latency_ms,
            "concurrency": CONCURRENCY,
            "limit_s": limit,
            "task_ratio_to_limit": latency["task_s"] / limit,
            "execute_ratio_to_limit": latency["execute_s"] / limit,
            "bare_ratio_to_limit": latency["bare_s"] / limit,
            "floor_ratio_to_limit": latency["floor_s"] / limit,
            "latency": latency,
            "fast": fast,
        }
    )


if __name__ == "__main__":
    main()
