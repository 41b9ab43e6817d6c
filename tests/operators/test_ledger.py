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
    assert store.values[LEDGER_KEY] == {"fingerprint": input_fingerprint(["a", "b"]), "records": 2}
    await ledger.before_dispatch(0)
    assert store.values[checkpoint_key(0)] == {"created": {}, "frontier": 10}
    await ledger.before_dispatch(9)  # inside the frontier: no write
    assert store.writes == 2


async def test_ids_are_written_in_groups_and_read_back_by_a_retry() -> None:
    store = MemoryStore()
    keys = [f"k{i}" for i in range(25)]
    ledger = ProgressLedger(store, group_size=10, flush_interval=3600, window=100)
    ledger.resume(input_fingerprint(keys), len(keys))
    await ledger.before_dispatch(0)
    for i, key in enumerate(keys[:23]):
        if ledger.record(key, f"id{i}"):
            await ledger.flush()
    # Two full groups were written; three ids wait. The worker dies here.
    assert store.writes == 1 + 1 + 2
    retry = ProgressLedger(store, window=100)
    resumed = retry.resume(input_fingerprint(keys), len(keys))
    assert resumed.created == {f"k{i}": f"id{i}" for i in range(20)}
    # Records 20..22 were sent but not recorded: they are before the frontier, so a retry looks first.
    assert resumed.uncertain_before == 100
    await retry.flush(frontier=150)
    assert checkpoint_key(3) in store.values  # the retry appends after the groups it read


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
    due = False
    count = 0
    while not due:
        due = ledger.record(f"{long_key}{count}", "3fa85f64-5717-4562-b3fc-2c963f66afa6")
        count += 1
    await ledger.flush()
    assert len(json.dumps(store.values[checkpoint_key(0)])) < 65_535


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
