"""200 records as 200 mapped HttpOperator tasks against one batched ScheduleActivityOperator, in dag.test().

The benchmark gets its own AIRFLOW_HOME (a fresh SQLite metadata database, `airflow db migrate`) with
`benchmarks/dags/batched_vs_mapped.py` in its DAGs folder; connections come from environment variables.
Each run times `dag.test()` of both DAGs, side by side, against one emulator in its own process, and
checks that every record was created.

    python -m benchmarks.batched_vs_mapped [--runs 3] [--records 200] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.common import airflow_home, emit, emulator, http_connection_json, median, run_child

DAGS = {"mapped": "benchmark_mapped_http", "batched": "benchmark_batched_kizen"}


def child(base_url: str, runs: int, records: int, latency_ms: float) -> None:
    """Runs inside the benchmark's AIRFLOW_HOME: parse the DAGs once, then time dag.test() runs."""
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_kizen.emulator.testing import EmulatorControl

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"the benchmark DAGs did not load: {bag.import_errors}")
    control = EmulatorControl(base_url)
    timings: dict[str, list[float]] = {name: [] for name in DAGS}
    for run in range(runs):
        for name, dag_id in DAGS.items():
            control.reset()
            control.set_faults(latency_ms=latency_ms)
            dag = bag.get_dag(dag_id)
            assert dag is not None
            started = time.perf_counter()
            dag_run = dag.test()
            timings[name].append(time.perf_counter() - started)
            created = len(control.activities())
            if dag_run.state != "success" or created != records:
                raise RuntimeError(
                    f"{dag_id}: run {dag_run.state}, {created} of {records} activities created"
                )
            print(f"run {run + 1}: {name} {timings[name][-1]:.1f} s", flush=True)
    control.close()
    emit({name: median(values) for name, values in timings.items()} | {"runs_s": timings})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.runs, args.records, args.latency_ms)
        return

    with airflow_home("batched_vs_mapped.py") as env, emulator() as emu:
        env["KIZEN_BENCHMARK_RECORDS"] = str(args.records)
        env["AIRFLOW_CONN_KIZEN_DEFAULT"] = emu.connection_uri
        env["AIRFLOW_CONN_KIZEN_HTTP"] = http_connection_json(emu.base_url)
        arguments = [emu.base_url, "--runs", str(args.runs), "--records", str(args.records)]
        arguments += ["--latency-ms", str(args.latency_ms)]
        result = run_child("benchmarks.batched_vs_mapped", arguments, env)
    emit(
        {
            "records": args.records,
            "latency_ms": args.latency_ms,
            "runs": args.runs,
            "mapped_s": result["mapped"],
            "batched_s": result["batched"],
            "ratio": result["mapped"] / result["batched"],
            "runs_s": result["runs_s"],
        }
    )


if __name__ == "__main__":
    main()
