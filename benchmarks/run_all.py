"""Run every benchmark and write its figures into docs/performance.md.

Each benchmark runs as its own process; its full output goes to benchmarks/results/NAME.log and its
figures (the RESULT line) into the table between the markers of docs/performance.md. The rest of that
page is prose and is left as it is.

    python -m benchmarks.run_all [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import ROOT, collect, machine

RESULTS = ROOT / "benchmarks" / "results"
REPORT = ROOT / "docs" / "performance.md"
START_MARKER = "<!-- benchmark results: written by benchmarks/run.sh -->"
END_MARKER = "<!-- end of benchmark results -->"
PROFILE = "benchmarks/results/in_task_profile.txt"


def _steps(quick: bool) -> dict[str, list[str]]:
    """Each benchmark's command line (after `python`); --quick shrinks them for a smoke run."""
    if quick:
        return {
            "in_task": ["-m", "benchmarks.in_task", "--runs", "1", "--records", "300",
                        "--fast-records", "300", "--profile", PROFILE],
            "batch_creation": ["-m", "benchmarks.batch_creation", "--runs", "1", "--records", "300",
                               "--sequential-records", "20", "--fast-records", "300"],
            "batch_creation_thread": ["-m", "benchmarks.batch_creation", "--runs", "1", "--records", "300",
                                      "--sequential-records", "20", "--fast-records", "300",
                                      "--emulator", "thread"],
            "emulator_throughput": ["-m", "benchmarks.emulator_throughput", "--creates", "2000"],
            "emulator_throughput_httpx": ["-m", "benchmarks.emulator_throughput", "--creates", "500",
                                          "--client", "httpx", "--concurrency", "16"],
            "httpx_pool": ["-m", "benchmarks.httpx_pool", "--runs", "1", "--creates", "200"],
            "batched_vs_mapped": ["-m", "benchmarks.batched_vs_mapped", "--runs", "1", "--records", "20"],
            "parse_cost": ["-m", "benchmarks.parse_cost", "--runs", "3"],
            "memory": ["-m", "benchmarks.memory", "--sizes", "100", "1000"],
            "trigger_scale": ["benchmarks/trigger_scale.py", "--activities", "500", "--pending-for", "5"],
        }  # fmt: skip
    return {
        "in_task": ["-m", "benchmarks.in_task", "--profile", PROFILE],
        "batch_creation": ["-m", "benchmarks.batch_creation"],
        "batch_creation_thread": ["-m", "benchmarks.batch_creation", "--runs", "1",
                                  "--sequential-records", "50", "--fast-records", "1000",
                                  "--emulator", "thread"],
        "emulator_throughput": ["-m", "benchmarks.emulator_throughput", "--creates", "10000"],
        "emulator_throughput_httpx": ["-m", "benchmarks.emulator_throughput", "--creates", "3000",
                                      "--client", "httpx", "--concurrency", "16"],
        "httpx_pool": ["-m", "benchmarks.httpx_pool"],
        "batched_vs_mapped": ["-m", "benchmarks.batched_vs_mapped"],
        "parse_cost": ["-m", "benchmarks.parse_cost"],
        "memory": ["-m", "benchmarks.memory"],
        "trigger_scale": ["benchmarks/trigger_scale.py"],
    }  # fmt: skip


def _run(name: str, arguments: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run one benchmark, logging its output; returns its stdout and its wall time."""
    command = [sys.executable, *arguments]
    print(f"== {name}: {shlex.join(['python', *arguments])}", flush=True)
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (RESULTS / f"{name}.log").write_text(completed.stdout + "\n--- stderr ---\n" + completed.stderr)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{name} failed (exit {completed.returncode}); see benchmarks/results/{name}.log:\n"
            + completed.stderr[-3000:]
        )
    print(f"   done in {seconds:.0f} s", flush=True)
    return completed.stdout, seconds


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with small sizes")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these benchmarks and keep the other figures of the last run (results.json)",
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    env = {**os.environ, "AIRFLOW_HOME": tempfile.mkdtemp(prefix="kizen-benchmark-home-")}
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # operator log lines are not what is measured

    load_before = _load()
    started = time.perf_counter()
    outputs: dict[str, dict[str, Any]] = {}
    ran: dict[str, dict[str, Any]] = {}  # per benchmark: when, how long, under what load
    if args.only and not (RESULTS / "results.json").exists():
        parser.error("--only keeps the other figures of an earlier full run, and there is none yet")
    if args.only:
        previous = json.loads((RESULTS / "results.json").read_text())
        outputs, ran = previous["results"], previous["context"]["ran"]
    for name, arguments in _steps(args.quick).items():
        if args.only and name not in args.only:
            continue
        script = arguments[1].replace(".", "/") + ".py" if arguments[0] == "-m" else arguments[0]
        if not (ROOT / script).exists():
            print(f"== {name}: {script} is missing; skipped", flush=True)
            continue
        at = time.strftime("%H:%M UTC", time.gmtime())
        stdout, seconds = _run(name, arguments, env)
        ran[name] = {"at": at, "seconds": seconds, "load_after": _load()}
        outputs[name] = _parse(name, stdout)
    total = time.perf_counter() - started
    context = {
        "machine": machine(),
        "load_before": load_before,
        "load_after": _load(),
        "total_s": sum(entry["seconds"] for entry in ran.values()) if args.only else total,
        "ran": ran,
        "command": "bash benchmarks/run.sh" + (" --quick" if args.quick else ""),
        "only": args.only,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    (RESULTS / "results.json").write_text(json.dumps({"context": context, "results": outputs}, indent=2))
    _write_report(render(context, outputs))
    print(f"docs/performance.md updated; the run took {total:.0f} s", flush=True)


def _parse(name: str, stdout: str) -> dict[str, Any]:
    """The benchmark's RESULT line; the two scripts with their own output format are kept as text."""
    if name.startswith("emulator_throughput") or name == "trigger_scale":
        try:
            return collect(stdout)
        except RuntimeError:
            return {"text": stdout.strip()}
    return collect(stdout)


def _write_report(block: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else f"# Performance\n\n{START_MARKER}\n{END_MARKER}\n"
    head, _, rest = text.partition(START_MARKER)
    _, _, tail = rest.partition(END_MARKER)
    REPORT.write_text(f"{head}{START_MARKER}\n{block}\n{END_MARKER}{tail}")


def _verdict(passed: bool) -> str:
    return "met" if passed else "**missed**"


def render(context: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The results block of docs/performance.md, in Markdown."""
    m = context["machine"]
    lines = [
        f"Measured {context['date']} with `{context['command']}` "
        f"(whole run: {context['total_s'] / 60:.1f} min"
        + (f"; rerun with `--only {' '.join(context['only'])}`" if context.get("only") else "")
        + ").",
        "",
        f"- Machine: {m['cpu']}, {m['memory']}, {m['os']}",
        f"- Python {m['python']} ({platform.python_implementation()}), Airflow {m['airflow']}, "
        f"httpx {m['httpx']}, pydantic {m['pydantic']}",
        f"- Load average before / after the run: {context['load_before']} / {context['load_after']}",
        "",
    ]
    sections: list[tuple[str, Callable[[dict[str, Any]], list[str]]]] = [
        ("in_task", _in_task_rows),
        ("batch_creation", _batch_rows),
        ("httpx_pool", _pool_rows),
        ("batched_vs_mapped", _mapped_rows),
        ("parse_cost", _parse_rows),
        ("memory", _memory_rows),
    ]
    lines += ["| # | measurement | result | target | verdict |", "|---|---|---|---|---|"]
    for name, rows in sections:
        if name in results:
            lines += rows(results[name] | {"_all": results})
    lines += _trigger_rows(results.get("trigger_scale"))
    lines += _details(results)
    lines += [
        "",
        "When each benchmark ran (a rerun with `--only` keeps the other figures):",
        "",
        "| benchmark | started | took | load average after |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{name}` | {entry['at']} | {entry['seconds']:.0f} s | {entry['load_after']} |"
        for name, entry in context["ran"].items()
    ]
    return "\n".join(lines)


def _in_task_rows(r: dict[str, Any]) -> list[str]:
    latency, fast, limit = r["latency"], r["fast"], r["limit_s"]
    setting = f"{latency['records']:,} creates, {r['latency_ms']:g} ms latency, {r['concurrency']} in flight"
    return [
        f"| 1 | in a task (`dag.test()`, ledger on, literal payloads, warm-up task first): {setting}: "
        f"the task's duration (median of {r['runs']}) | {latency['task_s']:.2f} s = "
        f"**{r['task_ratio_to_limit']:.2f}x** the limit of {limit:.3f} s | ≤ 1.2x | "
        f"{_verdict(r['task_ratio_to_limit'] <= 1.2)} |",
        f"| 1 | the same runs: the batch's own time (the operator's execute()); the task spent "
        f"{latency['before_execute_s']:.2f} s before it (rendering the payload: {latency['render_s']:.2f} s) "
        f"and {latency['after_execute_s']:.2f} s after it | {latency['execute_s']:.2f} s = "
        f"**{r['execute_ratio_to_limit']:.2f}x** the limit | ≤ 1.2x | "
        f"{_verdict(r['execute_ratio_to_limit'] <= 1.2)} |",
        f"| 1 | the same runs: a bare `httpx.AsyncClient` task sending the same creates, 16 in flight | "
        f"{latency['bare_s']:.2f} s = {r['bare_ratio_to_limit']:.2f}x the limit (task: "
        f"{latency['bare_task_s']:.2f} s) | (reported) | |",
        f"| 1 | the same runs: bare aiohttp, 16 in flight (no httpx: the floor this machine and emulator "
        f"allow) | {latency['floor_s']:.2f} s = {r['floor_ratio_to_limit']:.2f}x the limit, "
        f"{latency['floor_cpu_us_per_create']:,.0f} µs CPU per create | (diagnosis) | |",
        f"| 1 | the same runs: client CPU per create in the task (process CPU over execute()), against the "
        f"bare `httpx.AsyncClient` task | {latency['cpu_us_per_create']:,.0f} µs vs "
        f"{latency['bare_cpu_us_per_create']:,.0f} µs: **{latency['cpu_ratio_to_bare']:.2f}x** | ≤ 0.6x | "
        f"{_verdict(latency['cpu_ratio_to_bare'] <= 0.6)} |",
        f"| 1 | the same runs, the task thread's own CPU only (the event loop; Airflow's threads, which "
        f"`dag.test()` runs in the task's process, and the checkpoint writes are left out): operator, "
        f"bare `httpx.AsyncClient`, bare aiohttp | {latency['thread_cpu_us_per_create']:,.0f} µs, "
        f"{latency['bare_thread_cpu_us_per_create']:,.0f} µs, "
        f"{latency['floor_thread_cpu_us_per_create']:,.0f} µs: "
        f"{latency['thread_cpu_ratio_to_bare']:.2f}x the bare client | (diagnosis) | |",
        f"| 1 | in a task, no injected latency, {fast['records']:,} creates: creates per second, operator "
        f"vs bare `httpx.AsyncClient` (median of {r['runs']}) | {fast['creates_per_s']:,.0f}/s vs "
        f"{fast['bare_creates_per_s']:,.0f}/s: **{fast['speed_ratio_to_bare']:.2f}x** | ≥ 3x | "
        f"{_verdict(fast['speed_ratio_to_bare'] >= 3)} |",
        f"| 1 | the same runs: client CPU per create | {fast['cpu_us_per_create']:,.0f} µs vs "
        f"{fast['bare_cpu_us_per_create']:,.0f} µs: {fast['cpu_ratio_to_bare']:.2f}x | (reported) | |",
        f"| 1 | the same runs: bare aiohttp (the floor) | {fast['floor_creates_per_s']:,.0f}/s, "
        f"{fast['floor_cpu_us_per_create']:,.0f} µs CPU per create | (diagnosis) | |",
    ]


def _batch_rows(r: dict[str, Any]) -> list[str]:
    limit = r["limit_s"]
    rows = [
        f"| 1 | diagnosis, outside a task: `execute()` with a stand-in context (a state store that keeps "
        f"nothing, no rendering or task log), {r['records']:,} creates, {r['latency_ms']:g} ms latency, "
        f"max_concurrency={r['concurrency']} (median of {r['runs']}) | {r['batch_s']:.2f} s = "
        f"**{r['batch_ratio_to_limit']:.2f}x** the limit of {limit:.3f} s | (diagnosis) | |",
        f"| 1 | batch vs sequential `KizenHook.create_scheduled_activity` loop | "
        f"**{r['speedup_vs_hook_loop']:.1f}x** faster (loop: {r['hook_loop_s']:.1f} s for {r['records']:,}) "
        f"| ≥ 12x | {_verdict(r['speedup_vs_hook_loop'] >= 12)} |",
        f"| 1 | batch vs sequential `HttpHook.run` loop (apache-airflow-providers-http) | "
        f"**{r['speedup_vs_http_hook_loop']:.1f}x** faster (loop: {r['http_hook_loop_s']:.1f} s for "
        f"{r['records']:,}) | ≥ 12x | {_verdict(r['speedup_vs_http_hook_loop'] >= 12)} |",
    ]
    rows.append(
        f"| 1 | the same creates from a bare `httpx.AsyncClient`, {r['concurrency']} in flight, in the same "
        f"runs (no validation, retries or ledger) | {r['bare_httpx_s']:.2f} s = "
        f"{r['bare_httpx_ratio_to_limit']:.2f}x the limit | (reported) | |"
    )
    rows.append(
        f"| 1 | no injected latency: operator creates per second ({r['fast_records']:,} creates, "
        f"max_concurrency={r['concurrency']}) | **{r['creates_per_s']:,.0f}/s** | (reported) | |"
    )
    rows.append(
        "| 1 | emulator ceiling (`benchmarks/emulator_throughput.py`, minimal raw HTTP client) | "
        f"{_emulator_ceiling(r['_all'].get('emulator_throughput'))} | (reported) | |"
    )
    rows.append(
        "| 1 | the same emulator driven by a bare `httpx.AsyncClient`, 16 connections (`--client httpx`) | "
        f"{_emulator_ceiling(r['_all'].get('emulator_throughput_httpx'))} | (reported) | |"
    )
    thread = r["_all"].get("batch_creation_thread")
    if thread is not None:
        rows.append(
            f"| 1 | the same, emulator in the client's process (one GIL; 1 run) | "
            f"{thread['batch_ratio_to_limit']:.2f}x the limit; {thread['speedup_vs_hook_loop']:.1f}x / "
            f"{thread['speedup_vs_http_hook_loop']:.1f}x the loops; {thread['creates_per_s']:,.0f}/s | "
            "(comparison only) | |"
        )
    return rows


def _emulator_ceiling(result: dict[str, Any] | None) -> str:
    if result is None:
        return "not measured"
    if "text" in result:
        return "; ".join(line.strip() for line in result["text"].splitlines() if line.strip())
    return json.dumps(result)


def _pool_rows(r: dict[str, Any]) -> list[str]:
    cells = "; ".join(
        f"{name}: {figures['ratio_to_limit']:.2f}x the limit, {figures['client_cpu_ms_per_request']:.2f} ms "
        "client CPU/request"
        for name, figures in r["layouts"].items()
    )
    return [
        f"| 1 | diagnosis: bare `httpx.AsyncClient`, {r['creates']} creates, {r['latency_ms']:g} ms latency, "
        f"16 in flight, split over 1, 4 or 16 clients (`benchmarks/httpx_pool.py`) | {cells} | "
        "(diagnosis) | |"
    ]


def _mapped_rows(r: dict[str, Any]) -> list[str]:
    return [
        f"| 2 | {r['records']} records under `dag.test()`, {r['latency_ms']:g} ms latency: "
        f"{r['records']} mapped `HttpOperator` tasks vs one `ScheduleActivityOperator` "
        f"(median of {r['runs']}) | {r['mapped_s']:.1f} s vs {r['batched_s']:.1f} s: "
        f"**{r['ratio']:.1f}x** faster batched | (reported) | |"
    ]


def _parse_rows(r: dict[str, Any]) -> list[str]:
    rows = []
    for baseline, label in (
        ("airflow.sdk", "`import airflow.sdk`"),
        ("DAG file", "a DAG file's own imports"),
    ):
        figures = r[baseline]
        rows.append(
            f"| 3 | import of the operator and sensor modules, on top of {label} "
            f"({figures['baseline_ms']:.0f} ms; median of {r['runs']} fresh interpreters) | "
            f"**+{figures['added_ms']:.1f} ms** wall (min {figures['added_min_ms']:.1f}, "
            f"max {figures['added_max_ms']:.1f}); **+{figures['added_cpu_ms']:.1f} ms** CPU | ≤ 25 ms | "
            f"{_verdict(figures['added_ms'] <= 25)} wall, {_verdict(figures['added_cpu_ms'] <= 25)} CPU |"
        )
    return rows


def _memory_rows(r: dict[str, Any]) -> list[str]:
    rows = []
    for size in r["sizes"]:
        rows.append(
            f"| 4 | peak RSS, {size['records']:,}-payload batch (fresh process; {size['seconds']:.0f} s) | "
            f"**{size['peak_rss_mb']:.0f} MB** ({size['peak_rss_before_batch_mb']:.0f} MB before the batch) "
            f"| < 300 MB at 100,000 | "
            + (_verdict(size["peak_rss_mb"] < 300) if size["records"] >= 100_000 else "")
            + " |"
        )
    if r.get("growth_kb_per_record") is not None:
        rows.append(
            f"| 4 | growth per record between the two sizes | {r['growth_kb_per_record']:.1f} KB | "
            "linear in results kept | see below |"
        )
    return rows


def _trigger_rows(r: dict[str, Any] | None) -> list[str]:
    label = (
        "| 5 | one trigger watching 5,000 activities, half completed 40 s later "
        "(`benchmarks/trigger_scale.py`) |"
    )
    if r is None:
        return [f"{label} not run: benchmarks/trigger_scale.py is missing | stall < 20 ms | |"]
    if "text" in r:
        text = "<br>".join(line.strip() for line in r["text"].splitlines() if line.strip())
        return [f"{label} {text} | stall < 20 ms | |"]
    cycles = ", ".join(str(count) for count in r["requests_per_cycle"])
    return [
        f"{label} **{r['total_requests']:,} requests** in all (per poll cycle: {cycles}); "
        f"event `{r['event']}` of **{r['event_bytes']:,} bytes** ({r['event_bytes_per_activity']:.0f} per "
        f"activity) after {r['wait_s']:.0f} s; peak RSS **{r['peak_rss_mb']:.0f} MB** "
        f"(+{r['rss_growth_mb']:.0f} MB while watching); longest event-loop stall "
        f"**{r['longest_stall_ms']:.0f} ms** wall clock, of which at most {r['longest_busy_ms']:.0f} ms was "
        f"the loop's own CPU; {r['stalls_over_20ms']} stalls over 20 ms; process CPU while watching "
        f"{r['cpu_s']:.1f} s, **{r['cpu_us_per_read']:,} µs per read** | "
        f"stall < 20 ms; ≤ 200 bytes per activity | {_verdict(r['longest_stall_ms'] < 20)} wall, "
        f"{_verdict(r['longest_busy_ms'] < 20)} CPU; {_verdict(r['event_bytes_per_activity'] <= 200)} size |"
    ]


def _details(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    batch = results.get("batch_creation")
    if batch is not None:
        runs = ", ".join(f"{seconds:.2f}" for seconds in batch["batch_runs_s"])
        lines += [
            "",
            f"Batch runs (s): {runs}. The two loops time {batch['sequential_records']} creates per run "
            f"and are scaled to {batch['records']:,}; the emulator runs in its own process "
            "(`kizen-emulator`) unless the row says otherwise.",
        ]
    parse = results.get("parse_cost")
    if parse is not None:
        lines += [
            "",
            "Modules the provider import loads on top of a DAG file's imports, in import order "
            "(`python -X importtime`, medians over several interpreters; depth 0 is what the DAG file "
            "imports):",
            "",
            "| module | depth | cumulative ms | self ms |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{row['module']}` | {row['depth']} | {row['cumulative_ms']:.1f} | {row['self_ms']:.1f} |"
            for row in parse["breakdown"]
        ]
    return lines


if __name__ == "__main__":
    main()
