"""The operator's per-record results (its return value), and the `failures` and messages built from them.

Every result is plain JSON: ``{index, record_key, status, activity_id, ...}``, where ``status`` is
``created``, ``already_existed``, ``updated``, ``unchanged``, ``completed``, ``failed``, ``invalid`` or,
in a plan-only run, ``would_create`` and ``would_update``. An ``updated`` or ``would_update`` result
names the fields it changes in ``changed_fields``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

if TYPE_CHECKING:
    from airflow_provider_kizen.operators.batch import Outcome
    from airflow_provider_kizen.operators.payloads import InvalidRecord

# How many invalid records or failures the task's error message quotes, the task log shows in full (the
# rest at DEBUG), and the `failures` XCom keeps: a batch of 100,000 bad records stays readable and small.
QUOTED_ERRORS = 5
LOGGED_ERRORS = 20
FAILURES_IN_XCOM = 100
# Batches up to this size get one task-log line per record; larger ones only progress and the summary.
LOGGED_RECORDS = 20
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
        result["unsettled"] = outcome.unsettled
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
    return {key: result[key] for key in keys} | {"unsettled": result.get("unsettled", False)}


def summary(headline: str, failures: list[dict[str, Any]]) -> str:
    """The task's error message: a headline and the first few failures."""
    quoted = "\n".join(f"  {entry['error']}" for entry in failures[:QUOTED_ERRORS])
    more = len(failures) - QUOTED_ERRORS
    tail = (
        f"\n  ... and {more} more (the first {FAILURES_IN_XCOM} in XCom 'failures'; all in the task log, "
        f"past the first {LOGGED_ERRORS} at DEBUG)"
        if more > 0
        else ""
    )
    return f"{headline}:\n{quoted}{tail}"


def record_line(result: dict[str, Any]) -> str:
    """One record's outcome for the task log: key, activity id, fields changed, due time; never a note."""
    head = f"record {result['index']} (key {result['record_key']})"
    if result["activity_id"] is None:
        return f"{head}: {result['status']}, no activity (its error is logged as a warning)"
    due = (result.get("activity") or {}).get("due_datetime") or "unknown"
    changed = f", changing {', '.join(result['changed_fields'])}" if result.get("changed_fields") else ""
    return f"{head} → activity {result['activity_id']} ({result['status']}{changed}), due {due}"


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
