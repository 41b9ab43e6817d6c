"""The operator's per-record results (its return value), and the `failures` and messages built from them.

Every result is plain JSON: ``{index, record_key, status, activity_id, ...}``, where ``status`` is
``created``, ``already_existed``, ``updated``, ``unchanged``, ``completed``, ``failed``, ``invalid`` or,
in a plan-only run, ``would_create`` and ``would_update``. An ``updated`` or ``would_update`` result
names the fields it changes in ``changed_fields``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_kizen.operators.batch import Outcome
from airflow_provider_kizen.operators.payloads import InvalidRecord

# How many invalid records or failures the task's error message quotes; the rest are in the log and XCom.
QUOTED_ERRORS = 5
FAILED_STATUSES = ("failed", "invalid")
UPDATE_STATUSES = ("updated", "would_update")


def outcome_result(index: int, record_key: str, outcome: Outcome) -> dict[str, Any]:
    """A sent record: its activity, what was changed in it (for an update), or its error (``failed``)."""
    result: dict[str, Any] = {
        "index": index,
        "record_key": record_key,
        "status": outcome.status,
        "activity_id": outcome.activity_id,
    }
    if outcome.status == "failed":
        result["error"] = f"record {index} (key {record_key}): {outcome.error}"
        result["field_errors"] = outcome.field_errors or {}
    else:
        result["activity"] = outcome.activity
    if outcome.status in UPDATE_STATUSES:
        result["changed_fields"] = list(outcome.changed_fields)
    return result


def invalid_result(invalid: InvalidRecord) -> dict[str, Any]:
    """A record that failed validation and was never sent."""
    return {
        "index": invalid.index,
        "record_key": invalid.record_key,
        "status": "invalid",
        "activity_id": None,
        "error": str(invalid),
        "field_errors": invalid.field_errors,
    }


def planned_result(index: int, record_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A valid record in a plan-only run: the request body it would send."""
    return {
        "index": index,
        "record_key": record_key,
        "status": "would_create",
        "activity_id": None,
        "payload": payload,
    }


def same_as(index: int, first: dict[str, Any] | None) -> dict[str, Any]:
    """The result of a record whose key an earlier record of the same batch already carries."""
    if first is None:
        raise AirflowException(f"record {index}: the record it duplicates has no result")
    result = {**first, "index": index}
    if first["status"] == "created":
        result["status"] = "already_existed"
    return result


def failure(result: dict[str, Any]) -> dict[str, Any]:
    """The `failures` XCom entry of a failed or invalid result."""
    keys = ("index", "record_key", "status", "error", "field_errors")
    return {key: result[key] for key in keys}


def summary(headline: str, failures: list[dict[str, Any]]) -> str:
    """The task's error message: a headline and the first few failures."""
    quoted = "\n".join(f"  {entry['error']}" for entry in failures[:QUOTED_ERRORS])
    more = len(failures) - QUOTED_ERRORS
    tail = f"\n  ... and {more} more (XCom key 'failures')" if more > 0 else ""
    return f"{headline}:\n{quoted}{tail}"


def status_counts(results: list[dict[str, Any]]) -> str:
    """``"2 created, 1 invalid, 3 updated (due_datetime 2, note 1)"``, statuses in alphabetical order."""
    counts: dict[str, int] = {}
    fields: dict[str, dict[str, int]] = {}
    for result in results:
        status = result["status"]
        counts[status] = counts.get(status, 0) + 1
        for name in result.get("changed_fields", ()):
            fields.setdefault(status, {})[name] = fields.get(status, {}).get(name, 0) + 1
    parts = []
    for status, count in sorted(counts.items()):
        changed = ", ".join(f"{name} {n}" for name, n in sorted(fields.get(status, {}).items()))
        parts.append(f"{count} {status}" + (f" ({changed})" if changed else ""))
    return ", ".join(parts) or "no records"
