"""Why the batch stays above the latency-bound limit: httpx.AsyncClient's cost per request grows with
the number of requests in flight on one client.

Sends the same creates with 16 in flight, three ways, side by side: one AsyncClient with 16 connections
(what `KizenHook.aget_conn` gives the batch), 4 clients with 4 each, and 16 clients with 1 each. Prints
the wall time against the latency-bound limit and the client's CPU time per request.

    python -m benchmarks.httpx_pool [--creates 800] [--latency-ms 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx

from benchmarks.common import ACTIVITIES_PATH, HEADERS, emit, emulator, median, payloads

IN_FLIGHT = 16
LAYOUTS = {"1 client x 16": 1, "4 clients x 4": 4, "16 clients x 1": 16}


async def send_all(
    base_url: str, headers: dict[str, str], records: list[dict[str, Any]], clients: int, in_flight: int
) -> None:
    """Send every record, `in_flight` at a time, spread over `clients` AsyncClients."""
    pool = [httpx.AsyncClient(base_url=base_url, headers=headers) for _ in range(clients)]
    remaining: Iterator[dict[str, Any]] = iter(records)

    async def worker(client: httpx.AsyncClient) -> None:
        for record in remaining:
            (await client.post(ACTIVITIES_PATH, json=record)).raise_for_status()

    try:
        await asyncio.gather(*(worker(client) for client in pool for _ in range(in_flight // clients)))
    finally:
        for client in pool:
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--creates", type=int, default=800)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    records = payloads(args.creates)
    wall: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    cpu: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    with emulator() as emu:
        for _ in range(args.runs):
            for name, clients in LAYOUTS.items():
                emu.control.reset()
                emu.control.set_faults(latency_ms=args.latency_ms)
                started, cpu_started = time.perf_counter(), time.process_time()
                asyncio.run(send_all(emu.base_url, HEADERS, records, clients, IN_FLIGHT))
                wall[name].append(time.perf_counter() - started)
                cpu[name].append((time.process_time() - cpu_started) / args.creates)
    limit = args.creates * args.latency_ms / 1000 / IN_FLIGHT
    layouts = {
        name: {
            "wall_s": median(wall[name]),
            "ratio_to_limit": median(wall[name]) / limit,
            "client_cpu_ms_per_request": median(cpu[name]) * 1000,
        }
        for name in LAYOUTS
    }
    for name, figures in layouts.items():
        print(name, figures, flush=True)
    emit({"creates": args.creates, "latency_ms": args.latency_ms, "limit_s": limit, "layouts": layouts})


if __name__ == "__main__":
    main()
