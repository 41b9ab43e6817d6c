"""The task_state_store ledger: append-only checkpoints, frontiers, and what a retry reads back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_kizen.operators.ledger import (
    LEDGER_KEY,
    ProgressLedger,
    checkpoint_key,
    input_fingerprint,
)


class MemoryStore:
    """The get/set surface of Airflow's TaskStateStoreAccessor, over a dict; counts round trips."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.values[key])) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.writes += 1
        self.values[key] = json.loads(json.dumps(value))


async def test_first_try_writes_the_fingerprint_and_a_frontier_before_any_send() -> None:
    store = MemoryStore()
    ledger = ProgressLedger(store, window=10)
    resumed = ledger.resume(input_fingerprint(["a", "b"]), 2)
    assert resumed.created == {}
    assert resumed.uncertain_before == 0
    # The first frontier comes with the fingerprint: the first record waits for no checkpoint.
    assert store.values[LEDGER_KEY] == {
        "fingerprint": input_fingerprint(["a", "b"]),
        "records": 2,
        "frontier": 10,
    }
    await ledger.before_dispatch(0)
    await ledger.before_dispatch(4)  # well inside the frontier: no write
    await ledger.flush()
    assert store.writes == 1


async def test_the_frontier_moves_ahead_before_dispatch_reaches_it() -> None:
    store = MemoryStore()
    ledger = ProgressLedger(store, window=10)
    ledger.resume("f", 100)
    await ledger.before_dispatch(0)
    await ledger.before_dispatch(5)  # more than a quarter window inside the frontier: no write
    assert store.writes == 1
    await ledger.before_dispatch(8)  # within a quarter window: the next frontier is written meanwhile
    await asyncio.sleep(0.1)
    assert store.values[checkpoint_key(0)] == {"created": {}, "frontier": 18}
    await ledger.before_dispatch(12)
    assert store.writes == 2


async def test_a_checkpoint_of_ids_also_moves_the_frontier() -> None:
    """While ids arrive steadily, their checkpoints carry the frontier: none is written for it alone."""
    store = MemoryStore()
    ledger = ProgressLedger(store, group_size=2, flush_interval=3600, window=10)
    ledger.resume("f", 100)
    for index in range(40):
        await ledger.before_dispatch(index)
        ledger.record(f"r{index}", f"a{index}")
        await asyncio.sleep(0)
    await ledger.flush()
    checkpoints = [value for key, value in store.values.items() if key != LEDGER_KEY]
    assert all(checkpoint["created"] for checkpoint in checkpoints[1:])
    assert checkpoints[-1]["frontier"] == 49
    assert sum(len(checkpoint["created"]) for checkpoint in checkpoints) == 40


async def test_a_slow_checkpoint_holds_up_neither_results_nor_dispatch() -> None:
    """Ids are noted and records dispatched while a checkpoint is being written; only a record at
    the written frontier waits for it."""
    import threading

    release = threading.Event()

    class HeldStore(MemoryStore):
        def set(self, key: str, value: Any) -> None:
            if key != LEDGER_KEY:
                release.wait(timeout=10)
            super().set(key, value)

    store = HeldStore()
    ledger = ProgressLedger(store, group_size=2, window=10)
    ledger.resume("f", 100)
    await ledger.before_dispatch(0)
    ledger.record("a", "id-a")
    ledger.record("b", "id-b")  # a group is due: it is written in the background, and held there
    await ledger.before_dispatch(4)  # returns while the write is held
    ledger.record("c", "id-c")
    at_the_frontier = asyncio.create_task(ledger.before_dispatch(10))
    await asyncio.sleep(0.05)
    assert not at_the_frontier.done()  # a record at the frontier waits for its checkpoint
    assert "id-c" not in json.dumps(store.values)
    release.set()
    await at_the_frontier
    await ledger.flush()
    created: dict[str, str] = {}
    for group in range(store.writes - 1):
        created |= store.values[checkpoint_key(group)]["created"]
    assert created == {"a": "id-a", "b": "id-b", "c": "id-c"}


async def test_ids_are_written_in_groups_and_read_back_by_a_retry() -> None:
    store = MemoryStore()
    keys = [f"k{i}" for i in range(25)]
    ledger = ProgressLedger(store, group_size=10, flush_interval=3600, window=100)
    ledger.resume(input_fingerprint(keys), len(keys))
    await ledger.before_dispatch(0)
    for i, key in enumerate(keys[:23]):
        ledger.record(key, f"id{i}")
        await asyncio.sleep(0.01)  # requests take time; the background writes keep up
    # Two full groups were written; three ids wait. The worker dies here.
    assert store.writes == 1 + 2
    retry = ProgressLedger(store, window=100)
    resumed = retry.resume(input_fingerprint(keys), len(keys))
    assert resumed.created == {f"k{i}": f"id{i}" for i in range(20)}
    # Records 20..22 were sent but not recorded: they are before the frontier, so a retry looks first.
    assert resumed.uncertain_before == 100
    await retry.flush(frontier=150)
    assert checkpoint_key(2) in store.values  # the retry appends after the groups it read


async def test_a_changed_input_makes_every_unrecorded_record_uncertain() -> None:
    store = MemoryStore()
    ProgressLedger(store).resume(input_fingerprint(["a"]), 1)
    resumed = ProgressLedger(store).resume(input_fingerprint(["b", "c"]), 2)
    assert resumed.uncertain_before == 2


async def test_checkpoints_stay_far_below_the_value_size_limit() -> None:
    store = MemoryStore()
    ledger = ProgressLedger(store, group_size=100_000, flush_interval=3600)
    ledger.resume("f", 1)
    long_key = "warehouse-row-" + "x" * 300
    for count in range(400):  # about 130 KB of keys
        ledger.record(f"{long_key}{count}", "3fa85f64-5717-4562-b3fc-2c963f66afa6")
    await ledger.flush()
    checkpoints = [value for key, value in store.values.items() if key != LEDGER_KEY]
    assert len(checkpoints) > 1
    assert all(len(json.dumps(checkpoint)) < 65_535 for checkpoint in checkpoints)
    assert sum(len(checkpoint["created"]) for checkpoint in checkpoints) == 400


async def test_a_failed_write_keeps_the_ids_for_the_next_checkpoint() -> None:
    class FlakyStore(MemoryStore):
        fail = True

        def set(self, key: str, value: Any) -> None:
            if self.fail and key != LEDGER_KEY:
                raise RuntimeError("API server unavailable")
            super().set(key, value)

    store = FlakyStore()
    ledger = ProgressLedger(store)
    ledger.resume("f", 1)
    ledger.record("a", "id-a")
    with pytest.raises(RuntimeError):
        await ledger.flush()
    store.fail = False
    await ledger.flush()
    assert store.values[checkpoint_key(0)]["created"] == {"a": "id-a"}


async def test_a_cancelled_wait_still_finishes_the_write() -> None:
    class SlowStore(MemoryStore):
        def set(self, key: str, value: Any) -> None:
            import time

            time.sleep(0.2)
            super().set(key, value)

    store = SlowStore()
    ledger = ProgressLedger(store)
    ledger.resume("f", 1)
    ledger.record("a", "id-a")
    flush = asyncio.create_task(ledger.flush())
    await asyncio.sleep(0.05)
    flush.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flush
    assert store.values[checkpoint_key(0)]["created"] == {"a": "id-a"}


async def test_a_failed_background_write_stops_the_batch_at_the_next_record() -> None:
    class DeadStore(MemoryStore):
        def set(self, key: str, value: Any) -> None:
            if key != LEDGER_KEY:
                raise RuntimeError("API server unavailable")
            super().set(key, value)

    ledger = ProgressLedger(DeadStore(), group_size=1)
    ledger.resume("f", 10)
    ledger.record("a", "id-a")  # due at once: written in the background, which fails
    await asyncio.sleep(0.1)
    with pytest.raises(RuntimeError, match="API server unavailable"):
        ledger.record("b", "id-b")
