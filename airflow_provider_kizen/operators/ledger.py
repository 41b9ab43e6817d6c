"""The task's own record of what it created, kept in Airflow's ``task_state_store`` across task retries.

Layout, all under one task instance (each mapped instance has its own store):

- ``kizen_batch``: ``{"fingerprint": ..., "records": n}``, written once before anything is sent. The
  fingerprint hashes every record key in input order, so a retry knows whether its input is the same.
- ``kizen_batch.0``, ``kizen_batch.1``, ...: one *checkpoint* per write, never rewritten:
  ``{"created": {record_key: activity_id, ...}, "frontier": index}``. Records at an index at or past
  the highest frontier were certainly never sent; records before it may have been.

A checkpoint is written when ``group_size`` new ids are waiting, when ``flush_interval`` seconds have
passed since the last one, before a record at or past the frontier is dispatched, and at the end.
Writing one value per record would cost one round trip to the API server per activity; one growing
value would be rewritten in full each time (quadratic, and past the 64 KiB value limit after about
800 records). Small append-only groups keep each write small and the number of writes low.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

LEDGER_KEY = "kizen_batch"
# A checkpoint must stay well below [state_store] max_value_storage_bytes (64 KiB by default).
MAX_CHECKPOINT_BYTES = 32_000


class StateStore(Protocol):
    """The part of Airflow's ``TaskStateStoreAccessor`` the ledger uses."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


def checkpoint_key(group: int) -> str:
    """The store key of the `group`-th checkpoint; no slash, which Airflow 3.3.0's store API refuses."""
    return f"{LEDGER_KEY}.{group}"


def input_fingerprint(record_keys: Iterable[str]) -> str:
    """A hash of the record keys in input order."""
    digest = hashlib.sha256()
    for key in record_keys:
        digest.update(key.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass
class Resumed:
    """What earlier tries of this task left behind."""

    created: dict[str, str] = field(default_factory=dict)
    # Records before this index may have been sent without their id being recorded.
    uncertain_before: int = 0
    # No earlier try left a ledger: a first try, or a store emptied since (retention, a Clear).
    no_ledger: bool = True
    # An earlier try's input differed, and it may have sent some of it.
    input_changed: bool = False


class ProgressLedger:
    """Records created ids in small append-only checkpoints.

    :param store: ``context["task_state_store"]``.
    :param group_size: write a checkpoint once this many new ids are waiting.
    :param flush_interval: ... or once this many seconds have passed since the last checkpoint.
    :param window: how far past the dispatched records each frontier reaches.
    """

    def __init__(
        self,
        store: StateStore,
        *,
        group_size: int = 100,
        flush_interval: float = 1.0,
        window: int = 500,
    ) -> None:
        self.store = store
        self.group_size = group_size
        self.flush_interval = flush_interval
        self.window = window
        self._next_group = 0
        self._frontier = 0
        self._pending: dict[str, str] = {}
        self._pending_bytes = 0
        self._last_flush = time.monotonic()
        self._lock = asyncio.Lock()

    def resume(self, fingerprint: str, records: int) -> Resumed:
        """Read earlier tries' checkpoints; on the first try, write the input fingerprint."""
        meta = self.store.get(LEDGER_KEY)
        if not isinstance(meta, dict):
            self.store.set(LEDGER_KEY, {"fingerprint": fingerprint, "records": records})
            return Resumed()
        resumed = Resumed(no_ledger=False)
        while isinstance(group := self.store.get(checkpoint_key(self._next_group)), dict):
            resumed.created.update(group.get("created") or {})
            self._frontier = max(self._frontier, int(group.get("frontier") or 0))
            self._next_group += 1
        # With a different input, indexes say nothing: any unrecorded record may have been sent.
        same_input = meta.get("fingerprint") == fingerprint
        resumed.input_changed = not same_input and (self._frontier > 0 or bool(resumed.created))
        resumed.uncertain_before = self._frontier if same_input else records
        self._frontier = resumed.uncertain_before
        return resumed

    def record(self, record_key: str, activity_id: str) -> bool:
        """Note a created id; True when a checkpoint is due."""
        self._pending[record_key] = activity_id
        self._pending_bytes += len(record_key) + len(activity_id) + 6
        return (
            len(self._pending) >= self.group_size
            or self._pending_bytes >= MAX_CHECKPOINT_BYTES
            or time.monotonic() - self._last_flush >= self.flush_interval
        )

    async def before_dispatch(self, index: int) -> None:
        """Move the frontier past `index` before that record may be sent."""
        if index >= self._frontier:
            await self.flush(frontier=index + self.window)

    async def flush(self, *, frontier: int | None = None) -> None:
        """Write waiting ids (and a new frontier) as one checkpoint, off the event loop."""
        async with self._lock:
            if frontier is None and not self._pending:
                return
            created, new_frontier = self._pending, max(self._frontier, frontier or 0)
            self._pending, self._pending_bytes = {}, 0
            checkpoint = {"created": created, "frontier": new_frontier}
            try:
                await _uncancellable(
                    asyncio.to_thread(self.store.set, checkpoint_key(self._next_group), checkpoint)
                )
            except asyncio.CancelledError:
                self._written(new_frontier)  # the write finished; only the wait was cancelled
                raise
            except BaseException:
                # Nothing was recorded: keep the ids for the next checkpoint.
                self._pending = {**created, **self._pending}
                raise
            self._written(new_frontier)

    def _written(self, frontier: int) -> None:
        self._next_group += 1
        self._frontier = frontier
        self._last_flush = time.monotonic()


async def _uncancellable(write: Coroutine[Any, Any, None]) -> None:
    """Finish a checkpoint even when the batch is cancelled (on_kill): recorded ids must not be lost.

    The write is a blocking round trip to the supervisor, so it runs in a thread to keep requests flowing.
    """
    task = asyncio.ensure_future(write)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
