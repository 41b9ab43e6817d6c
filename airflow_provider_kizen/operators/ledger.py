"""The task's own record of what it created and updated, kept in ``task_state_store`` across task retries.

Layout, all under one task instance (each mapped instance has its own store):

- ``kizen_batch``: ``{"fingerprint": ..., "records": n, "frontier": index}``, written once before
  anything is sent. The fingerprint hashes every record key in input order, so a retry knows whether
  its input is the same; the first frontier spares the first record a checkpoint of its own.
- ``kizen_batch.0``, ``kizen_batch.1``, ...: one *checkpoint* per write, never rewritten:
  ``{"created": {record_key: activity_id, ...}, "frontier": index}``, and ``"updated": {record_key:
  "field,field"}`` for records that changed their activity. Records at an index at or past the highest
  frontier were certainly never sent; records before it may have been. A retry reads back what was
  created, and reports a record an earlier try updated as updated, though its activity now matches.

A checkpoint is written when ``group_size`` new ids are waiting, when ``flush_interval`` seconds have
passed since the last one, when dispatch comes within a quarter window of the frontier, and at the end.
Every checkpoint moves the frontier a window past the latest dispatched record, so while ids arrive
steadily no checkpoint is written for the frontier alone.
Writing one value per record would cost one round trip to the API server per activity; one growing
value would be rewritten in full each time (quadratic, and past the 64 KiB value limit after about
800 records). Small append-only groups keep each write small and the number of writes low.

Checkpoints are written by one background task, in a thread: a request that completes only notes its
id and gives its concurrency slot straight back, and dispatch waits only if it reaches the frontier
before the checkpoint that moves it is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable
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
    # record key -> the fields an earlier try changed in the record's activity
    updated: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Records before this index may have been sent without their id being recorded.
    uncertain_before: int = 0
    # No earlier try left a ledger: a first try, or a store emptied since (retention, a Clear).
    no_ledger: bool = True
    # An earlier try's input differed, and it may have sent some of it.
    input_changed: bool = False


class ProgressLedger:
    """Records created ids and updated fields in small append-only checkpoints.

    :param store: ``context["task_state_store"]``.
    :param group_size: write a checkpoint once this many new ids are waiting.
    :param flush_interval: ... or once this many seconds have passed since the last checkpoint.
    :param window: how far past the dispatched records each frontier reaches.
    """

    def __init__(
        self,
        store: StateStore,
        *,
        group_size: int = 500,
        flush_interval: float = 1.0,
        window: int = 1000,
    ) -> None:
        self.store = store
        self.group_size = group_size
        self.flush_interval = flush_interval
        self.window = window
        self._next_group = 0
        self._frontier = 0  # written: records at or past it were certainly never sent
        self._wanted_frontier = 0
        self._reach = 0  # a window past the latest dispatched record: where any checkpoint may move it
        # (section, record key) -> value: "created" ids and "updated" field lists waiting to be written
        self._pending: dict[tuple[str, str], str] = {}
        self._pending_bytes = 0
        self._last_flush = time.monotonic()
        self._writer: asyncio.Task[None] | None = None

    def resume(self, fingerprint: str, records: int) -> Resumed:
        """Read earlier tries' checkpoints; on the first try, write the input fingerprint."""
        meta = self.store.get(LEDGER_KEY)
        if not isinstance(meta, dict):
            frontier = self.window
            self.store.set(LEDGER_KEY, {"fingerprint": fingerprint, "records": records, "frontier": frontier})
            self._frontier = self._wanted_frontier = frontier
            return Resumed()
        resumed = Resumed(no_ledger=False)
        self._frontier = int(meta.get("frontier") or 0)
        while isinstance(group := self.store.get(checkpoint_key(self._next_group)), dict):
            resumed.created.update(group.get("created") or {})
            for key, fields in (group.get("updated") or {}).items():
                resumed.updated[key] = tuple(fields.split(","))
            self._frontier = max(self._frontier, int(group.get("frontier") or 0))
            self._next_group += 1
        # With a different input, indexes say nothing: any unrecorded record may have been sent.
        same_input = meta.get("fingerprint") == fingerprint
        resumed.input_changed = not same_input and (self._frontier > 0 or bool(resumed.created))
        resumed.uncertain_before = self._frontier if same_input else records
        self._frontier = self._wanted_frontier = resumed.uncertain_before
        return resumed

    def record(self, record_key: str, activity_id: str) -> None:
        """Note a created id; starts a checkpoint in the background when one is due."""
        self._note("created", record_key, activity_id)

    def record_update(self, record_key: str, changed_fields: Iterable[str]) -> None:
        """Note the fields a record changed in its activity."""
        self._note("updated", record_key, ",".join(changed_fields))

    def _note(self, section: str, record_key: str, value: str) -> None:
        self._pending[section, record_key] = value
        self._pending_bytes += _entry_bytes(((section, record_key), value))
        self._write_if_due()

    async def before_dispatch(self, index: int) -> None:
        """Make sure the written frontier is past `index` before that record may be sent.

        A checkpoint for the frontier alone is started once dispatch is within a quarter window of
        it (checkpoints of ids move it too), so dispatch waits only when that checkpoint is slower
        than a quarter window of requests.
        """
        self._reach = index + self.window
        if index + self.window // 4 >= max(self._frontier, self._wanted_frontier):
            self._wanted_frontier = self._reach
        self._write_if_due()
        while index >= self._frontier:
            await self._wait_for_writer()
            self._write_if_due()

    async def flush(self, *, frontier: int | None = None) -> None:
        """Write every waiting id (and a new frontier) and wait until it is written."""
        self._wanted_frontier = max(self._wanted_frontier, frontier or 0)
        await self._wait_for_writer()
        if self._pending or self._wanted_frontier > self._frontier:
            self._writer = asyncio.ensure_future(self._write_all())
            await self._wait_for_writer()

    def _write_if_due(self) -> None:
        """Start a background checkpoint when one is due; raise what the last one raised."""
        writer = self._writer
        if writer is not None:
            if not writer.done():
                return  # it writes again while anything is due when it finishes
            if writer.cancelled() or writer.exception() is not None:
                self._writer = None  # its ids are pending again, for the final checkpoint
                writer.result()  # a dead state store stops the batch
        if self._due():
            self._writer = asyncio.ensure_future(self._write_all(until_due=True))

    def _take_checkpoint(self) -> dict[tuple[str, str], str]:
        """Waiting ids, oldest first, up to one checkpoint's size (more may arrive while one is written)."""
        if self._pending_bytes <= MAX_CHECKPOINT_BYTES:
            taken, self._pending, self._pending_bytes = self._pending, {}, 0
            return taken
        taken, size = {}, 0
        for entry in self._pending.items():
            if size + _entry_bytes(entry) > MAX_CHECKPOINT_BYTES and taken:
                break
            taken[entry[0]] = entry[1]
            size += _entry_bytes(entry)
        for key in taken:
            del self._pending[key]
        self._pending_bytes -= size
        return taken

    def _due(self) -> bool:
        return (
            self._wanted_frontier > self._frontier
            or len(self._pending) >= self.group_size
            or self._pending_bytes >= MAX_CHECKPOINT_BYTES
            or (bool(self._pending) and time.monotonic() - self._last_flush >= self.flush_interval)
        )

    async def _wait_for_writer(self) -> None:
        """Wait for the background write, even when the wait is cancelled; raise what it raised."""
        writer = self._writer
        if writer is None:
            return
        try:
            await _uncancellable(writer)
        finally:
            if writer.done() and (writer.cancelled() or writer.exception() is not None):
                self._writer = None  # reported once; the ids it held are pending again

    async def _write_all(self, *, until_due: bool = False) -> None:
        """Write checkpoints one after another while one is due (or, at the end, while anything waits)."""
        while self._due() if until_due else (self._pending or self._wanted_frontier > self._frontier):
            taken = self._take_checkpoint()
            frontier = max(self._frontier, self._wanted_frontier, self._reach)
            checkpoint: dict[str, Any] = {"created": {}, "frontier": frontier}
            for (section, key), value in taken.items():
                checkpoint.setdefault(section, {})[key] = value
            try:
                await asyncio.to_thread(self.store.set, checkpoint_key(self._next_group), checkpoint)
            except BaseException:
                # Nothing was recorded: keep the ids for the next checkpoint.
                self._pending = {**taken, **self._pending}
                self._pending_bytes = sum(map(_entry_bytes, self._pending.items()))
                raise
            self._next_group += 1
            self._frontier = frontier
            self._last_flush = time.monotonic()


def _entry_bytes(entry: tuple[tuple[str, str], str]) -> int:
    """About what one entry (a record key and its id or fields) adds to a checkpoint's JSON."""
    (_, record_key), value = entry
    return len(record_key) + len(value) + 6


async def _uncancellable(write: asyncio.Future[None]) -> None:
    """Wait for a checkpoint even when the batch is cancelled (on_kill): recorded ids must not be lost.

    The write is a blocking round trip to the supervisor in a thread; cancelling the wait cannot stop it,
    so the wait goes on until it is done, and then the cancellation is passed on.
    """
    try:
        await asyncio.shield(write)
    except asyncio.CancelledError:
        if write.cancelled():
            raise
        await write
        raise
