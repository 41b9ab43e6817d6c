"""What every benchmark shares: an emulator in its own process, payloads, and the machine's description."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_provider_kizen.emulator.seed import API_KEY, BUSINESS_ID, USER_ID

ROOT = Path(__file__).resolve().parents[1]
ACTIVITIES_PATH = "/api/activities/scheduled-activity"
HEADERS = {"X-API-KEY": API_KEY, "X-BUSINESS-ID": BUSINESS_ID, "X-USER-ID": USER_ID}
CONTACTS = (
    "ada.lovelace@example.com",
    "grace.hopper@example.com",
    "alan.turing@example.com",
    "katherine.johnson@example.com",
)


@dataclass(frozen=True)
class Emulator:
    """A running emulator: its address, the `kizen` connection URI, and its control client."""

    base_url: str
    connection_uri: str
    control: Any  # airflow_provider_kizen.emulator.testing.EmulatorControl
    pid: int  # the process serving it: its own, or this one in `thread` mode


@contextmanager
def emulator(mode: str = "process") -> Iterator[Emulator]:
    """An emulator on a free loopback port: `process` runs `kizen-emulator` in a child process (its own
    GIL, as a real server would be); `thread` runs it inside this process (`running_emulator`)."""
    from airflow_provider_kizen.emulator.testing import EmulatorControl, connection_uri, running_emulator

    if mode == "thread":
        with running_emulator() as handle:
            yield Emulator(handle.base_url, handle.connection_uri, handle.control, os.getpid())
        return
    command = [str(Path(sys.executable).with_name("kizen-emulator")), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        announced = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", announced)
        if match is None:
            raise RuntimeError(f"kizen-emulator did not announce its address: {announced!r}")
        base_url = match.group(0)
        control = EmulatorControl(base_url)
        try:
            yield Emulator(base_url, connection_uri("127.0.0.1", int(match.group(1))), control, process.pid)
        finally:
            control.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def airflow_home(*dag_files: str) -> Iterator[dict[str, str]]:
    """A fresh AIRFLOW_HOME (its own SQLite database, migrated) with `dag_files` from benchmarks/dags in
    its DAGs folder; yields the environment a child process runs `dag.test()` in."""
    home = Path(tempfile.mkdtemp(prefix="kizen-benchmark-airflow-"))
    try:
        dags_folder = home / "dags"
        dags_folder.mkdir()
        for name in dag_files:
            shutil.copy(ROOT / "benchmarks" / "dags" / name, dags_folder)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
        airflow_cli = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow_cli), "db", "migrate"], env=env, check=True, capture_output=True)
        yield env
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_child(module: str, arguments: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `python -m module --child ...arguments` in `env`; its RESULT, or its error output on failure."""
    command = [sys.executable, "-m", module, "--child", *arguments]
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    print(completed.stdout, end="", flush=True)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-5000:])
        raise SystemExit(f"{module}: the dag.test() runs failed (exit {completed.returncode})")
    return collect(completed.stdout)


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """Wall time, this process's CPU time (every thread) and this thread's CPU time of the block, filled
    in when it ends."""
    figures: dict[str, float] = {}
    wall, cpu, thread_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    try:
        yield figures
    finally:
        figures["wall_s"] = time.perf_counter() - wall
        figures["cpu_s"] = time.process_time() - cpu
        figures["thread_cpu_s"] = time.thread_time() - thread_cpu


def payloads(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """`count` distinct, valid scheduled-activity payloads, as a warehouse query would produce them."""
    due = datetime(2027, 3, 1, 9, tzinfo=UTC)
    return [
        {
            "activity_object_name": "follow_up_call",
            "due_datetime": (due + timedelta(minutes=number)).isoformat(),
            "note": f"Follow up on order {number}",
            "associated_entities": [
                {
                    "custom_object": {"name": "client_client"},
                    "entity": {"name": CONTACTS[number % len(CONTACTS)]},
                }
            ],
        }
        for number in range(start, start + count)
    ]


def http_connection_json(base_url: str) -> str:
    """An `http` connection to the emulator whose extra carries Kizen's three headers, as a user of
    HttpHook/HttpOperator would write it."""
    host, port = base_url.removeprefix("http://").split(":")
    extra = {**HEADERS, "Content-Type": "application/json"}
    return json.dumps(
        {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "extra": extra}
    )


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, str]:
    """Cores, memory, OS and the versions that matter, for the report's header."""
    import airflow
    import httpx
    import pydantic

    memory = "unknown"
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(meminfo.readline().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": f"{os.cpu_count()} cores ({cpu})",
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "airflow": airflow.__version__,
        "httpx": httpx.__version__,
        "pydantic": pydantic.VERSION,
    }


def emit(result: dict[str, Any]) -> None:
    """Print a benchmark's result as the last line of its output, for the runner to collect."""
    print("RESULT " + json.dumps(result), flush=True)


def collect(output: str) -> dict[str, Any]:
    """The result a benchmark printed with `emit`."""
    for line in reversed(output.splitlines()):
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    raise RuntimeError("the benchmark printed no RESULT line")


class _RemoteStateStore:
    """Stands for the task_state_store outside a DAG run: in Airflow its values leave the worker."""

    def get(self, key: str, default: Any = None) -> Any:
        return default

    def set(self, key: str, value: Any) -> None:
        pass


class _XComSink:
    """The task instance as the operator's execute() uses it outside a DAG run: XCom is kept in memory."""

    try_number = 1  # a first try: nothing to resume

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def run_operator_batch(records: list[dict[str, Any]], *, max_concurrency: int) -> list[dict[str, Any]]:
    """Create `records` through ScheduleActivityOperator.execute(), the operator's batch path.

    The `kizen_default` connection comes from AIRFLOW_CONN_KIZEN_DEFAULT. The task_state_store here
    keeps nothing, as the real one keeps its values on the API server; `batched_vs_mapped` measures the
    operator inside a real DAG run, ledger round trips included.
    """
    from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

    operator = ScheduleActivityOperator(
        task_id="benchmark_batch", payload=records, max_concurrency=max_concurrency, progress_interval=3600
    )
    results: list[dict[str, Any]] = operator.execute(
        {"ti": _XComSink(), "task_state_store": _RemoteStateStore()}  # type: ignore[typeddict-item]
    )
    failed = [result for result in results if result["status"] != "created"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(records)} records were not created: {failed[0]}")
    return results
