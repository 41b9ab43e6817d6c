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
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, collect, emit, emulator, http_connection_json, median

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

    home = Path(tempfile.mkdtemp(prefix="kizen-benchmark-airflow-"))
    try:
        dags_folder = home / "dags"
        dags_folder.mkdir()
        shutil.copy(ROOT / "benchmarks" / "dags" / "batched_vs_mapped.py", dags_folder)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "KIZEN_BENCHMARK_RECORDS": str(args.records),
        }
        airflow_cli = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow_cli), "db", "migrate"], env=env, check=True, capture_output=True)
        with emulator() as emu:
            env["AIRFLOW_CONN_KIZEN_DEFAULT"] = emu.connection_uri
            env["AIRFLOW_CONN_KIZEN_HTTP"] = http_connection_json(emu.base_url)
            command = [sys.executable, "-m", "benchmarks.batched_vs_mapped", "--child", emu.base_url]
            command += ["--runs", str(args.runs), "--records", str(args.records)]
            command += ["--latency-ms", str(args.latency_ms)]
            completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if completed.returncode != 0:
            sys.stderr.write(completed.stderr[-5000:])
            raise SystemExit(f"the dag.test() runs failed (exit {completed.returncode})")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result = collect(completed.stdout)
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
