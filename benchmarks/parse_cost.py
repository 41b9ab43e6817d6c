"""What importing the provider's operator and sensor modules adds to a DAG file's parse time.

Each sample is a fresh interpreter that imports a baseline, then the provider's two modules, and times
the second step alone. Two baselines: `import airflow.sdk` (lazy: it loads little by itself), and a
DAG file that already uses `DAG`, `BaseOperator` and `BaseSensorOperator` (what every DAG pays anyway).
One more interpreter runs with `-X importtime` and names the modules the provider import pulls in.

    python -m benchmarks.parse_cost [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from benchmarks.common import ROOT, emit, median

PROVIDER_IMPORT = (
    "import airflow_provider_kizen.operators.scheduled_activity\n"
    "import airflow_provider_kizen.sensors.scheduled_activity"
)
BASELINES = {
    "airflow.sdk": "import airflow.sdk",
    "DAG file": "import airflow.sdk\nfrom airflow.sdk import DAG, BaseOperator, BaseSensorOperator",
}
MARKER = "----- provider import starts -----"


def interpreter_env() -> dict[str, str]:
    """A deployed Airflow has its bytecode compiled; so must these interpreters, or every sample would
    time Python's compiler. The cache goes to a private prefix, outside the installed packages."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", str(ROOT / "benchmarks" / "results" / "pycache"))
    return env


def sample(baseline: str) -> tuple[float, float, float]:
    """Seconds for the baseline, then wall and CPU seconds the provider import adds, in one fresh
    interpreter. CPU time leaves out the time the process waited for a core on a busy machine."""
    code = (
        "import time\n"
        "started = time.perf_counter()\n"
        f"{baseline}\n"
        "middle, middle_cpu = time.perf_counter(), time.process_time()\n"
        f"{PROVIDER_IMPORT}\n"
        "print(middle - started, time.perf_counter() - middle, time.process_time() - middle_cpu)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], env=interpreter_env(), check=True, capture_output=True, text=True
    ).stdout
    baseline_s, added_s, added_cpu_s = output.split()
    return float(baseline_s), float(added_s), float(added_cpu_s)


def import_breakdown(baseline: str, runs: int, least_ms: float = 0.5) -> list[dict[str, object]]:
    """Every module the provider import loads on top of `baseline` that costs at least `least_ms`:
    its median self and cumulative time over `runs` interpreters started with `-X importtime`, in the
    order Python finished importing them (nested imports first), with its nesting depth."""
    code = f"import sys\n{baseline}\nprint({MARKER!r}, file=sys.stderr)\n{PROVIDER_IMPORT}\n"
    order: list[str] = []
    depth: dict[str, int] = {}
    self_ms: dict[str, list[float]] = {}
    cumulative_ms: dict[str, list[float]] = {}
    for _ in range(runs):
        stderr = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            env=interpreter_env(),
            check=True,
            capture_output=True,
            text=True,
        ).stderr
        for line in stderr.split(MARKER, 1)[1].splitlines():
            if not line.startswith("import time:"):
                continue
            self_us, cumulative_us, name_column = line.removeprefix("import time:").split("|")
            name = name_column.strip()
            if name not in depth:
                order.append(name)
                depth[name] = (len(name_column) - len(name_column.lstrip()) - 1) // 2
            self_ms.setdefault(name, []).append(int(self_us) / 1000)
            cumulative_ms.setdefault(name, []).append(int(cumulative_us) / 1000)
    return [
        {
            "module": name,
            "depth": depth[name],
            "self_ms": median(self_ms[name]),
            "cumulative_ms": median(cumulative_ms[name]),
        }
        for name in order
        if median(cumulative_ms[name]) >= least_ms
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for baseline in BASELINES.values():
        sample(baseline)  # fill the bytecode cache and the file system cache
    result: dict[str, object] = {"runs": args.runs}
    for name, baseline in BASELINES.items():
        samples = [sample(baseline) for _ in range(args.runs)]
        result[name] = {
            "baseline_ms": median([s[0] for s in samples]) * 1000,
            "added_ms": median([s[1] for s in samples]) * 1000,
            "added_min_ms": min(s[1] for s in samples) * 1000,
            "added_max_ms": max(s[1] for s in samples) * 1000,
            "added_cpu_ms": median([s[2] for s in samples]) * 1000,
        }
        print(name, result[name], flush=True)
    result["breakdown"] = import_breakdown(BASELINES["DAG file"], runs=max(3, args.runs // 2))
    emit(result)


if __name__ == "__main__":
    main()
