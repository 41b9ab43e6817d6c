"""Exactly once against every emulator profile: 2,000 records under faults, per profile.

Each profile is one reading of what Kizen leaves undocumented (what `search` covers, what the date
filters compare, what the API user may see, whether a 500 committed). The default profile runs through
a whole DAG (test_scheduled_activity.py). Here every other profile gets its own emulator process, and
their batches run side by side in one event loop, on the real hook over loopback: the emulators work on
the second core while the client works on the first, which keeps the matrix affordable.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from exactly_once import FAULTS, Audit, assigned_to_others, audit, hard_batch

from airflow_provider_kizen.emulator.profiles import PROFILES
from airflow_provider_kizen.emulator.testing import EmulatorControl
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite, ValidatedWrite
from airflow_provider_kizen.operators.batch import (
    ActivitySummaries,
    BatchItem,
    BatchRunner,
    BatchSettings,
    Outcome,
)
from airflow_provider_kizen.operators.ledger import ProgressLedger
from airflow_provider_kizen.operators.reconciliation import hash_record_key
from airflow_provider_kizen.operators.results import outcome_result

RECORDS = 2000
MATRIX = [name for name in PROFILES if name != "default"]
LOG = logging.getLogger(__name__)
QUICK_RETRIES = "&backoff_initial_seconds=0.05&backoff_max_seconds=0.5"


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, tuple[str, str]]]:
    """One `kizen-emulator --profile NAME` process per profile: name -> (base URL, connection URI)."""
    processes: list[subprocess.Popen[str]] = []
    started: dict[str, tuple[str, str]] = {}
    try:
        for name in MATRIX:
            command = [sys.executable, "-m", "airflow_provider_kizen.emulator.cli", "--port", "0"]
            process = subprocess.Popen([*command, "--profile", name], stdout=subprocess.PIPE, text=True)
            processes.append(process)
            assert process.stdout is not None
            base_url = process.stdout.readline().strip().rsplit(" ", 1)[1]  # "... listening on URL"
            uri = process.stdout.readline().strip().split("=", 1)[1].strip("'")  # AIRFLOW_CONN_...='URI'
            started[name] = (base_url, uri)
        yield started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


class MemoryStore(dict[str, Any]):
    """A task_state_store kept in memory: the runner checkpoints as in a task, nobody reads it back."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


async def run_batch(hook: KizenHook, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every record through one BatchRunner, as the operator would; one result per record, in order."""
    runner = BatchRunner(
        hook,
        ProgressLedger(MemoryStore()),
        BatchSettings(max_concurrency=16, progress_interval=60),
        log=LOG,
        describe=ActivitySummaries(),
    )
    results: list[dict[str, Any]] = [{}] * len(records)
    items = (
        BatchItem(
            index, hash_record_key(record), ValidatedWrite.of(ScheduledActivityWrite.model_validate(record))
        )
        for index, record in enumerate(records)
    )

    def on_outcome(item: BatchItem, outcome: Outcome) -> None:
        results[item.index] = outcome_result(item.index, item.record_key, outcome)

    try:
        await runner.run(items, len(records), on_outcome)
    finally:
        await hook.aclose()
    return results


def check(name: str, records: list[dict[str, Any]], results: list[dict[str, Any]], outcome: Audit) -> None:
    assert outcome.duplicates == 0, f"{name}: {outcome}"
    assert outcome.lost == 0, f"{name}: {outcome}"
    assert not outcome.failed_otherwise, f"{name}: {outcome.failed_otherwise[:3]}"
    unsettled = [
        (record, result) for record, result in zip(records, results, strict=True) if result.get("unsettled")
    ]
    if PROFILES[name].visibility == "everything":
        assert outcome.unsettled == 0, f"{name}: {outcome}"
        return
    # Only records the API user cannot see may stay unsettled, and each says why.
    assert unsettled, f"{name}: the visibility profile hid nothing"
    assert all(assigned_to_others(record) for record, _ in unsettled), name
    assert all("activity permissions" in result["error"] for _, result in unsettled), unsettled[0][1]


def test_2000_under_faults_end_exactly_once_on_every_profile(
    emulators: dict[str, tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    records = hard_batch("matrix", RECORDS)
    controls = {}
    for name, (base_url, uri) in emulators.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_KIZEN_{name.replace('-', '_').upper()}", uri + QUICK_RETRIES)
        controls[name] = EmulatorControl(base_url)
        controls[name].set_faults(**FAULTS)

    async def run_all() -> list[list[dict[str, Any]]]:
        hooks = [KizenHook(kizen_conn_id=f"kizen_{name.replace('-', '_')}") for name in emulators]
        for hook in hooks:
            await hook.aget_config()
        return await asyncio.gather(*(run_batch(hook, records) for hook in hooks))

    started = time.monotonic()
    all_results = asyncio.run(run_all())
    print(f"\n{len(emulators)} profiles x {RECORDS} records in {time.monotonic() - started:.0f}s")

    outcomes = {}
    for (name, control), results in zip(controls.items(), all_results, strict=True):
        control.clear_faults()
        outcomes[name] = audit(records, results, control.activities())
        faults = {entry["fault"] for entry in control.requests(FAULTS["path"])}
        control.close()
        print(f"{name}: {outcomes[name]}")
        assert {"commit_then_drop", "500"} <= faults, name
    for (name, outcome), results in zip(outcomes.items(), all_results, strict=True):
        check(name, records, results, outcome)
