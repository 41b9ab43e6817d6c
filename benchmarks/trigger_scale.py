"""One ScheduledActivityCompletedTrigger watching 5,000 pending activities on the emulator.

The emulator runs in its own process (`kizen-emulator`), so it shares neither this process's memory
nor its GIL. The script schedules the activities and completes half of them at once; the other half
is completed `--pending-for` seconds later. Then one trigger watches all of them until its success
event. It reports:

- the requests per poll cycle and in all, counted where every request of the hook goes through;
- the size of the success event, which Airflow stores, hands to the worker and logs;
- the longest event-loop stall: a heartbeat coroutine sleeps 5 ms at a time on the trigger's loop,
  and any lateness is time the loop spent on something else (target < 20 ms). On a busy machine
  part of that is waiting for a CPU, so it also reports the most CPU the loop's thread used between
  two beats, which is what the code itself costs (with the load average, to read the two together);
- the peak RSS while the trigger runs, sampled every 20 ms, against the RSS before it started;
- the process's CPU time while the trigger watches, per read the emulator saw (the benchmark's own
  samplers add a little): what one trigger costs the triggerer, which every deferred task shares.

A small trigger runs first, because the first async request of a process imports anyio's asyncio
backend on the loop, once (a triggerer has done so long before). Its stall is reported on its own.

    python benchmarks/trigger_scale.py [--activities 5000] [--pending-for 40] [--poll-interval 2]
                                       [--max-concurrency 10] [--profile] [--gc-freeze]

`--profile` runs the watched trigger under pyinstrument and prints where the loop's time went, and
where the loop was whenever it was stuck. `--gc-freeze` calls gc.freeze() before the watch, as a
triggerer could once after start-up: full collections then skip the objects Airflow loaded.
The last line is `RESULT {json}` for benchmarks/run_all.py.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACTIVITIES_PATH = "/api/activities/scheduled-activity"
HEARTBEAT_SECONDS = 0.005
RSS_SAMPLE_SECONDS = 0.02
STALL_TARGET_MS = 20.0


class LoopStalls:
    """A heartbeat on the running loop: how late it woke up, and why.

    Lateness is split into the cyclic garbage collector's pauses (timed with `gc.callbacks`) and
    everything else, and the CPU the loop's thread used between two beats is noted too: on a busy
    machine part of any lateness is only waiting for a CPU. With `where=True` a watchdog thread also
    samples the loop thread's stack whenever a beat is overdue, and counts where the loop was.
    """

    def __init__(self, *, where: bool = False) -> None:
        self.longest_ms = 0.0
        self.longest_without_gc_ms = 0.0
        self.longest_busy_ms = 0.0
        self.over_target = 0
        self.full_collections: list[float] = []  # gen-2 pauses, ms
        self.stuck_at: Counter[str] = Counter()
        self._where = where
        self._gc_pauses: list[tuple[float, float]] = []
        self._gc_started = 0.0
        self._last_beat = time.perf_counter()
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        self._gc_pauses.append((self._gc_started, time.perf_counter()))
        if info["generation"] == 2:
            self.full_collections.append((time.perf_counter() - self._gc_started) * 1000)

    def _gc_ms_between(self, start: float, end: float) -> float:
        return 1000 * sum(max(0.0, min(end, stop) - max(start, began)) for began, stop in self._gc_pauses)

    async def _beat(self) -> None:
        while True:
            started = self._last_beat = time.perf_counter()
            cpu_started = time.thread_time()
            await asyncio.sleep(HEARTBEAT_SECONDS)
            woke = time.perf_counter()
            late_ms = (woke - started - HEARTBEAT_SECONDS) * 1000
            self.longest_ms = max(self.longest_ms, late_ms)
            self.longest_without_gc_ms = max(
                self.longest_without_gc_ms, late_ms - self._gc_ms_between(started, woke)
            )
            self.longest_busy_ms = max(self.longest_busy_ms, (time.thread_time() - cpu_started) * 1000)
            self.over_target += late_ms > STALL_TARGET_MS
            self._gc_pauses = [pause for pause in self._gc_pauses if pause[1] > woke - 1]

    def _watch(self, loop_thread: int) -> None:
        overdue = HEARTBEAT_SECONDS + STALL_TARGET_MS / 1000
        while not self._stop.wait(0.002):
            if time.perf_counter() - self._last_beat > overdue:
                frames = traceback.extract_stack(sys._current_frames()[loop_thread])[-6:]
                place = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
                self.stuck_at[place] += 1

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._beat())
        if self._where:
            threading.Thread(target=self._watch, args=(threading.get_ident(),), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()


def full_collection_ms() -> tuple[float, float]:
    """How long one full garbage collection of this process takes, before and after gc.freeze()."""
    timings = []
    for freeze in (False, True):
        if freeze:
            gc.freeze()
        started = time.perf_counter()
        gc.collect()
        timings.append((time.perf_counter() - started) * 1000)
    gc.unfreeze()
    return timings[0], timings[1]


class PeakRss:
    """The highest resident set size seen by a sampling thread, in MB."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak_mb = self.now_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def now_mb(self) -> float:
        return float(self._process.memory_info().rss) / 1e6

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.peak_mb = max(self.peak_mb, self.now_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.now_mb())


async def schedule(count: int, concurrency: int) -> list[str]:
    """Create `count` activities through the hook's async path; returns their ids."""
    from airflow_provider_kizen.client.pacing import Pace
    from airflow_provider_kizen.hooks.kizen import KizenHook
    from benchmarks.common import payloads

    hook, pace = KizenHook(), Pace()
    records = iter(payloads(count))
    ids: list[str] = []

    async def worker() -> None:
        for record in records:
            ids.append(str((await hook.acreate_scheduled_activity(record, pace=pace)).id))

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await hook.aclose()
    return ids


async def complete(base_url: str, ids: list[str], after_seconds: float, concurrency: int) -> None:
    """Have the emulator complete these activities now or later (its control plane, concurrently)."""
    import httpx

    queue = iter(ids)
    async with httpx.AsyncClient(base_url=f"{base_url}/_emulator") as client:

        async def worker() -> None:
            for activity_id in queue:
                response = await client.post(
                    f"/activities/{activity_id}/complete", json={"after_seconds": after_seconds}
                )
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


class RequestLog:
    """Every request the trigger's hook sends, counted per poll cycle.

    It wraps `KizenHook._arequest`, the one place every async request goes through, and the trigger's
    `asweep_once`, which runs one cycle.
    """

    def __init__(self) -> None:
        self.per_cycle: list[int] = []
        self._originals: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> RequestLog:
        from airflow_provider_kizen.hooks.kizen import KizenHook
        from airflow_provider_kizen.triggers import scheduled_activity

        # The trigger module's own name for the sweep, which is what its loop calls.
        request, sweep = KizenHook._arequest, vars(scheduled_activity)["asweep_once"]
        counts = self.per_cycle

        async def counted_request(hook: Any, *args: Any, **kwargs: Any) -> Any:
            counts[-1] += 1
            return await request(hook, *args, **kwargs)

        async def counted_sweep(*args: Any, **kwargs: Any) -> None:
            counts.append(0)
            await sweep(*args, **kwargs)

        self._originals = [(KizenHook, "_arequest", request), (scheduled_activity, "asweep_once", sweep)]
        self._set([counted_request, counted_sweep])
        return self

    def __exit__(self, *exc: object) -> None:
        self._set([original for _, _, original in self._originals])

    def _set(self, values: list[Any]) -> None:
        for (owner, name, _), value in zip(self._originals, values, strict=True):
            setattr(owner, name, value)


async def watch(activity_ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Run one trigger over the ids until its event, measuring stalls, memory and cycles."""
    from airflow_provider_kizen.triggers.scheduled_activity import ScheduledActivityCompletedTrigger

    trigger = ScheduledActivityCompletedTrigger(
        activity_ids=activity_ids,
        deadline=time.time() + args.pending_for + 600,
        poll_interval=args.poll_interval,
        max_concurrency=args.max_concurrency,
    )
    gc.collect()
    stalls = LoopStalls(where=args.profile)
    with PeakRss() as rss, RequestLog() as requests:
        rss_before = rss.now_mb()
        stalls.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        events: Any = trigger.run()  # an async generator, closed below
        event = await anext(events)
        await events.aclose()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        stalls.stop()
    event_json = json.dumps(event.payload)
    return {
        "status": event.payload["status"],
        "event_bytes": len(event_json.encode()),
        "seconds": seconds,
        "requests_per_cycle": requests.per_cycle,
        "cpu_seconds": cpu_seconds,
        "longest_stall_ms": stalls.longest_ms,
        "longest_busy_ms": stalls.longest_busy_ms,
        "longest_without_gc_ms": stalls.longest_without_gc_ms,
        "full_collections_ms": stalls.full_collections,
        "stalls_over_target": stalls.over_target,
        "rss_before_mb": rss_before,
        "peak_rss_mb": rss.peak_mb,
        "stuck_at": stalls.stuck_at.most_common(8),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.common import emulator

    load_before = os.getloadavg()[0]
    with emulator("process") as kizen:
        os.environ["AIRFLOW_CONN_KIZEN_DEFAULT"] = kizen.connection_uri
        started = time.perf_counter()
        activity_ids = asyncio.run(schedule(args.activities, concurrency=16))
        half = len(activity_ids) // 2
        asyncio.run(complete(kizen.base_url, activity_ids[:half], 0, concurrency=16))
        asyncio.run(complete(kizen.base_url, activity_ids[half:], args.pending_for, concurrency=16))
        print(
            f"scheduled {len(activity_ids):,} activities in {time.perf_counter() - started:.1f} s", flush=True
        )

        async def both() -> tuple[dict[str, Any], dict[str, Any]]:
            warm_up = await watch(activity_ids[:1], args)
            if args.profile:
                from pyinstrument import Profiler

                with Profiler(async_mode="enabled") as profiler:
                    watched = await watch(activity_ids, args)
                print(profiler.output_text(unicode=True, color=False, show_all=False))
                print("Where the loop was stuck past the target (samples every 2 ms):")
                for place, samples in watched["stuck_at"]:
                    print(f"{samples:5d}  {place}")
            else:
                watched = await watch(activity_ids, args)
            return warm_up, watched

        gets_before = _gets(kizen.control)
        if args.gc_freeze:
            gc.freeze()  # what a triggerer could do once after start-up, as Airflow's dag processor does
        warm_up, watched = asyncio.run(both())
        gc.unfreeze()
        gc_plain_vs_frozen = full_collection_ms()
        gets = _gets(kizen.control) - gets_before - sum(warm_up["requests_per_cycle"])
    return {
        "activities": len(activity_ids),
        "gc_freeze": args.gc_freeze,
        "max_concurrency": args.max_concurrency,
        "poll_interval_s": args.poll_interval,
        "event": watched["status"],
        "event_bytes": watched["event_bytes"],
        "event_bytes_per_activity": round(watched["event_bytes"] / len(activity_ids), 1),
        "wait_s": round(watched["seconds"], 2),
        "requests_per_cycle": watched["requests_per_cycle"],
        "total_requests": sum(watched["requests_per_cycle"]),
        "gets_seen_by_emulator": gets,
        "cpu_s": round(watched["cpu_seconds"], 2),
        "cpu_us_per_read": round(watched["cpu_seconds"] / max(sum(watched["requests_per_cycle"]), 1) * 1e6),
        "longest_stall_ms": round(watched["longest_stall_ms"], 1),
        "longest_busy_ms": round(watched["longest_busy_ms"], 1),
        "longest_stall_without_gc_ms": round(watched["longest_without_gc_ms"], 1),
        "full_gc_pauses_ms": [round(ms) for ms in watched["full_collections_ms"]],
        "full_gc_ms_plain_vs_frozen": [round(ms, 1) for ms in gc_plain_vs_frozen],
        "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "stalls_over_20ms": watched["stalls_over_target"],
        "first_trigger_in_process_stall_ms": round(warm_up["longest_stall_ms"], 1),
        "rss_before_mb": round(watched["rss_before_mb"], 1),
        "peak_rss_mb": round(watched["peak_rss_mb"], 1),
        "rss_growth_mb": round(watched["peak_rss_mb"] - watched["rss_before_mb"], 1),
    }


def _gets(control: Any) -> int:
    """GETs of scheduled activities (lists and single reads) the emulator has answered so far."""
    return sum(1 for request in control.requests(ACTIVITIES_PATH) if request["method"] == "GET")


def print_table(result: dict[str, Any]) -> None:
    cycles = ", ".join(f"{n:,}" for n in result["requests_per_cycle"])
    verdict = "met" if result["longest_stall_ms"] < STALL_TARGET_MS else "MISSED"
    verdict_without_gc = "met" if result["longest_stall_without_gc_ms"] < STALL_TARGET_MS else "MISSED"
    plain_gc, frozen_gc = result["full_gc_ms_plain_vs_frozen"]
    rows = [
        (
            "activities watched",
            f"{result['activities']:,} (max_concurrency={result['max_concurrency']}"
            + (", after gc.freeze())" if result["gc_freeze"] else ")"),
        ),
        (
            "event",
            f"{result['event']}, {result['event_bytes']:,} bytes "
            f"({result['event_bytes_per_activity']:.0f} per activity)",
        ),
        ("wait", f"{result['wait_s']:.1f} s"),
        ("requests per poll cycle", cycles),
        (
            "requests in all",
            f"{result['total_requests']:,} ({result['gets_seen_by_emulator']:,} seen by the emulator)",
        ),
        (
            "longest event-loop stall",
            f"{result['longest_stall_ms']:.1f} ms wall clock (target < 20 ms: {verdict})",
        ),
        (
            "... not counting GC pauses",
            f"{result['longest_stall_without_gc_ms']:.1f} ms ({verdict_without_gc})",
        ),
        (
            "full GC pauses during the wait",
            ", ".join(f"{ms} ms" for ms in result["full_gc_pauses_ms"]) or "none",
        ),
        ("one full GC of this process", f"{plain_gc:.0f} ms; {frozen_gc:.1f} ms after gc.freeze()"),
        ("most loop CPU between two beats", f"{result['longest_busy_ms']:.1f} ms"),
        ("load average (1 min)", " -> ".join(str(load) for load in result["load_average_1min"])),
        ("heartbeats late by > 20 ms", str(result["stalls_over_20ms"])),
        ("first trigger of the process", f"{result['first_trigger_in_process_stall_ms']:.1f} ms stall"),
        (
            "RSS",
            f"{result['rss_before_mb']:.0f} MB before, peak {result['peak_rss_mb']:.0f} MB "
            f"(+{result['rss_growth_mb']:.1f} MB)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--activities", type=int, default=5000)
    parser.add_argument("--pending-for", type=float, default=40.0, help="seconds half the ids stay pending")
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--max-concurrency", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="profile the watched trigger (pyinstrument)")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() before watching, so full collections skip Airflow",
    )
    args = parser.parse_args()
    # A standalone run must not create or read ~/airflow; the benchmark runner passes its own home.
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="kizen-trigger-scale-"))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    if str(ROOT) not in sys.path:  # run as a script, the benchmarks package is not importable yet
        sys.path.insert(0, str(ROOT))
    from benchmarks.common import emit

    result = run(args)
    print_table(result)
    emit(result)


if __name__ == "__main__":
    main()
