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


def sample(baseline: str) -> tuple[float, float]:
    """Seconds for the baseline, then seconds the provider import adds, in one fresh interpreter."""
    code = (
        "import time\n"
        "started = time.perf_counter()\n"
        f"{baseline}\n"
        "middle = time.perf_counter()\n"
        f"{PROVIDER_IMPORT}\n"
        "print(middle - started, time.perf_counter() - middle)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], env=interpreter_env(), check=True, capture_output=True, text=True
    ).stdout
    baseline_s, added_s = output.split()
    return float(baseline_s), float(added_s)


def import_breakdown(baseline: str, top: int = 12) -> list[dict[str, object]]:
    """The heaviest modules the provider import loads on top of `baseline` (cumulative microseconds).

    `-X importtime` prints one line per newly imported module as it finishes, nested imports first and
    indented; only the outermost ones (the provider's own direct imports) are kept, plus heavy nested ones.
    """
    code = f"import sys\n{baseline}\nprint({MARKER!r}, file=sys.stderr)\n{PROVIDER_IMPORT}\n"
    stderr = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=interpreter_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    after = stderr.split(MARKER, 1)[1]
    rows = []
    for line in after.splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, cumulative_us, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if not self_us.isdigit():
            continue
        depth = (len(line.split("|")[2]) - len(line.split("|")[2].lstrip()) - 1) // 2
        rows.append(
            {
                "module": name,
                "depth": depth,
                "self_ms": int(self_us) / 1000,
                "cumulative_ms": int(cumulative_us) / 1000,
            }
        )
    rows.sort(key=lambda row: -float(row["cumulative_ms"]))  # type: ignore[arg-type]
    return rows[:top]


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
        }
        print(name, result[name], flush=True)
    result["breakdown"] = import_breakdown(BASELINES["DAG file"])
    emit(result)


if __name__ == "__main__":
    main()
