"""How many scheduled activities per second the Kizen emulator creates, with no injected faults.

Starts `kizen-emulator` in its own process on a free loopback port, then drives it with concurrent
async clients (in one or more client processes) and prints the creates per second. The default
client is a minimal keep-alive HTTP/1.1 client on asyncio streams, so that the number measures the
emulator rather than the client; `--client httpx` uses httpx.AsyncClient, as the provider does, which
costs more CPU per request than the emulator itself. On Linux it
also prints the emulator's own CPU time per create, which says what one core could sustain even when
the client, or other work on the machine, is the bottleneck.

    python -m benchmarks.emulator_throughput [--creates 20000] [--concurrency 32] [--client-processes 1]
                                             [--client raw|httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import time

import httpx

from benchmarks.common import ACTIVITIES_PATH, HEADERS, emulator

BODY = {
    "activity_object_name": "follow_up_call",
    "due_datetime": "2026-12-01T10:00:00Z",
    "note": "Benchmark call",
    "associated_entities": [
        {"custom_object": {"name": "client_client"}, "entity": {"name": "ada.lovelace@example.com"}}
    ],
}


async def _create_many_raw(base_url: str, creates: int, concurrency: int) -> int:
    """Create `creates` activities over `concurrency` raw keep-alive connections; returns the 201s."""
    host, port = base_url.removeprefix("http://").split(":")
    body = json.dumps(BODY).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
    request = (
        f"POST {ACTIVITIES_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    remaining = creates
    created = 0

    async def worker() -> None:
        nonlocal remaining, created
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while remaining > 0:
                remaining -= 1
                writer.write(request)
                response_head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", response_head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                if response_head.startswith(b"HTTP/1.1 201"):
                    created += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return created


async def _create_many_httpx(base_url: str, creates: int, concurrency: int) -> int:
    """Create `creates` activities with httpx over `concurrency` connections; returns the 201s."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    created = 0
    async with httpx.AsyncClient(base_url=base_url, headers=HEADERS, limits=limits, timeout=30) as client:
        remaining = creates

        async def worker() -> None:
            nonlocal remaining, created
            while remaining > 0:
                remaining -= 1
                response = await client.post(ACTIVITIES_PATH, json=BODY)
                if response.status_code == 201:
                    created += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return created


CLIENTS = {"raw": _create_many_raw, "httpx": _create_many_httpx}


def _client_process(client: str, base_url: str, creates: int, concurrency: int) -> int:
    return asyncio.run(CLIENTS[client](base_url, creates, concurrency))


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, from /proc (Linux only)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--creates", type=int, default=20_000, help="creates to time (default 20000)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="connections per client process (default 32)"
    )
    parser.add_argument("--client-processes", type=int, default=1, help="client processes (default 1)")
    parser.add_argument(
        "--client", choices=sorted(CLIENTS), default="raw", help="client implementation (default raw)"
    )
    args = parser.parse_args()

    with emulator() as kizen:
        base_url = kizen.base_url
        _client_process(args.client, base_url, 500, 8)  # warm up: imports, connections, code paths
        per_process = args.creates // args.client_processes
        cpu_before = _cpu_seconds(kizen.pid)
        started = time.perf_counter()
        if args.client_processes == 1:
            created = _client_process(args.client, base_url, per_process, args.concurrency)
        else:
            with multiprocessing.Pool(args.client_processes) as pool:
                created = sum(
                    pool.starmap(
                        _client_process,
                        [(args.client, base_url, per_process, args.concurrency)] * args.client_processes,
                    )
                )
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_seconds(kizen.pid)
    print(
        f"{created} creates in {elapsed:.2f} s ({args.client_processes} {args.client} client process(es) x "
        f"{args.concurrency} connections): {created / elapsed:,.0f} creates/s"
    )
    if cpu_before is not None and cpu_after is not None and created:
        cpu_per_create = (cpu_after - cpu_before) / created
        print(
            f"emulator CPU: {cpu_per_create * 1e6:.0f} us per create, "
            f"so one free core sustains about {1 / cpu_per_create:,.0f} creates/s"
        )


if __name__ == "__main__":
    main()
