"""Peak RSS of the operator's batch path at 1,000 and 100,000 payloads, each in a fresh process.

The emulator runs in its own process, so its growing store is not counted. Each child builds its
payloads, notes its peak RSS, runs the batch, and notes the peak again; the difference is what the
batch itself held (the results it returns are kept until the end, as the operator keeps them for XCom).
`--tracemalloc` makes the child also print the ten biggest allocation sites at the end of the batch.

    python -m benchmarks.memory [--sizes 1000 100000] [--concurrency 16] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.common import ROOT, collect, emit, emulator, payloads, peak_rss_mb, run_operator_batch


def child(records: int, concurrency: int, trace: bool) -> None:
    import airflow_provider_kizen.operators.scheduled_activity  # noqa: F401  (imports count as baseline)

    if trace:
        import tracemalloc

        tracemalloc.start(10)
    batch = payloads(records)
    before = peak_rss_mb()
    started = time.perf_counter()
    results = run_operator_batch(batch, max_concurrency=concurrency)
    seconds = time.perf_counter() - started
    after = peak_rss_mb()
    if trace:
        snapshot = tracemalloc.take_snapshot()
        for stat in snapshot.statistics("traceback")[:10]:
            print(
                f"{stat.size / 1e6:.1f} MB in {stat.count} blocks:", *stat.traceback.format()[-6:], sep="\n  "
            )
    emit(
        {
            "records": records,
            "results": len(results),
            "peak_rss_before_batch_mb": before,
            "peak_rss_mb": after,
            "batch_mb": after - before,
            "seconds": seconds,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.concurrency, args.tracemalloc)
        return
    measured = []
    with emulator() as emu:
        env = {**os.environ, "AIRFLOW_CONN_KIZEN_DEFAULT": emu.connection_uri}
        for size in args.sizes:
            emu.control.reset()
            command = [sys.executable, "-m", "benchmarks.memory", "--child", str(size)]
            command += ["--concurrency", str(args.concurrency)] + (["--tracemalloc"] * args.tracemalloc)
            output = subprocess.run(
                command, cwd=ROOT, env=env, check=True, capture_output=True, text=True
            ).stdout
            if args.tracemalloc:
                print(output)
            measured.append(collect(output))
            print(json.dumps(measured[-1]), flush=True)
    small, large = measured[0], measured[-1]
    per_record_kb = (
        (large["peak_rss_mb"] - small["peak_rss_mb"]) * 1024 / (large["records"] - small["records"])
        if large is not small
        else None
    )
    emit({"sizes": measured, "growth_kb_per_record": per_record_kb})


if __name__ == "__main__":
    main()
