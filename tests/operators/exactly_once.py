"""A batch built to trip reconciliation, and the audit that says whether it came through exactly once.

Shared by the DAG test (default profile) and the profile matrix (the batch runner driven directly).
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACTIVITIES_PATH = "/api/activities/scheduled-activity"
# Faults on creates and lookups alike: lost answers that committed, 500s (committed or not, as the
# profile says), and retryable answers. Back-offs are short (see `quick_retries`).
FAULTS: dict[str, Any] = {
    "path": ACTIVITIES_PATH,
    "rate_503": 0.08,
    "rate_429": 0.04,
    "retry_after_seconds": 0.05,
    "rate_commit_then_drop": 0.05,
    "rate_500": 0.03,
    "seed": 7,
}


def _load_fault_dags() -> Any:
    """The fault DAGs' module, whose `hard_batch` the DAG test runs too, loaded from its file."""
    path = Path(__file__).resolve().parents[1] / "dags" / "operator_faults.py"
    spec = importlib.util.spec_from_file_location("kizen_test_operator_faults", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hard_batch = _load_fault_dags().hard_batch


def assigned_to_others(record: dict[str, Any]) -> bool:
    return "employee_id" in record or "role_id" in record


@dataclass
class Audit:
    duplicates: int
    lost: int  # reported created or already existing, without an activity of its own
    unsettled: int
    created: int
    failed_otherwise: list[str]

    def __str__(self) -> str:
        return (
            f"{self.created} with their activity, {self.duplicates} duplicates, {self.lost} silently lost, "
            f"{self.unsettled} unsettled, {len(self.failed_otherwise)} failed otherwise"
        )


def audit(
    records: list[dict[str, Any]], results: list[dict[str, Any]], stored: list[dict[str, Any]]
) -> Audit:
    """Compare what each record was reported as with what Kizen holds; notes are unique per record."""
    by_note = Counter(activity["note"] for activity in stored)
    note_of = {activity["id"]: activity["note"] for activity in stored}
    duplicates = sum(count - 1 for count in by_note.values())
    lost = unsettled = created = 0
    failed_otherwise = []
    for record, result in zip(records, results, strict=True):
        if result["status"] in ("created", "already_existed"):
            created += 1
            lost += note_of.get(result["activity_id"]) != record["note"].strip()
        elif result.get("unsettled"):
            unsettled += 1
            assert "outcome unknown" in result["error"], result["error"]
        else:
            failed_otherwise.append(result["error"])
    return Audit(duplicates, lost, unsettled, created, failed_otherwise)
