"""ScheduleActivityOperator: one or many Kizen scheduled activities, validated first, created exactly once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from pydantic import BaseModel, ValidationError

from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity, ScheduledActivityWrite
from airflow_provider_kizen.operators.batch import (
    ActivitySummaries,
    BatchItem,
    BatchRunner,
    Outcome,
    full_activity,
)
from airflow_provider_kizen.operators.ledger import ProgressLedger, input_fingerprint
from airflow_provider_kizen.operators.record_keys import hash_record_key, user_record_key

if TYPE_CHECKING:
    from airflow.sdk import Context

# How many invalid records or failures the task's error message quotes; the rest are in the log and XCom.
QUOTED_ERRORS = 5


class InvalidRecord(Exception):
    """A record that cannot be sent: its index, key, and one message per offending field."""

    def __init__(self, index: int, record_key: str, field_errors: dict[str, list[str]]) -> None:
        self.index, self.record_key, self.field_errors = index, record_key, field_errors
        details = "; ".join(f"{name}: {' '.join(reasons)}" for name, reasons in field_errors.items())
        super().__init__(f"record {index} (key {record_key}): {details}")


def parse_payload(payload: Any) -> tuple[list[Any], bool]:
    """The records of a rendered `payload`, and whether it was one payload rather than a list."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise AirflowFailException(
                "payload rendered to a string that is not JSON; use `| tojson` in the template, or "
                f"render_template_as_native_obj=True on the DAG ({exc})"
            ) from None
    if isinstance(payload, (Mapping, BaseModel)):
        return [payload], True
    if isinstance(payload, Sequence) and not isinstance(payload, (str, bytes)):
        return list(payload), False
    raise AirflowFailException(
        f"payload must be a dict, a ScheduledActivityWrite, or a list of them, not {type(payload).__name__}"
    )


def _as_json(record: Any) -> Any:
    """Models become the plain JSON they would send, so template fields and XCom stay plain JSON."""
    if isinstance(record, ScheduledActivityWrite):
        return record.to_request_json()
    return record


def _field_name(location: tuple[int | str, ...]) -> str:
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "payload"


@dataclass
class Checked:
    """The outcome of validating every record: record keys in input order, and the invalid ones."""

    keys: list[str] = field(default_factory=list)
    invalid: dict[int, InvalidRecord] = field(default_factory=dict)


class ScheduleActivityOperator(BaseOperator):
    """Create Kizen scheduled activities from one payload or a list of them, exactly once.

    Every record is validated with ``ScheduledActivityWrite`` before anything is sent. Lists go
    through the async client with bounded concurrency and one shared pace. Each created id is
    recorded in the task's ``task_state_store`` (Airflow 3.3+), so a retried task skips what is done.

    Returns, for one payload, the created activity as Kizen returned it; for a list, one result per
    input in input order: ``{index, record_key, status, activity_id, activity | error}`` with status
    ``created``, ``already_existed``, ``failed`` or ``invalid``, where ``activity`` is a summary
    unless ``full_results=True``. Pushes XCom ``activity_ids`` (ids in
    input order of every record that now has an activity) and ``failures``.

    :param payload: one payload (dict or ``ScheduledActivityWrite``) or a list; templated. A string
        is parsed as JSON.
    :param kizen_conn_id: the ``kizen`` connection.
    :param dedupe_key: the field holding each record's own key. When it is not a field of the write
        model it is record metadata, and is removed before validation. Default: a hash of the payload.
    :param skip_invalid: report invalid records and send the rest, instead of failing before sending.
    :param fail_on_error: fail the task when any record failed (after every record was attempted).
    :param dry_run: validate and log what would be sent, send nothing, and return the payloads.
    :param max_concurrency: creates in flight at once.
    :param max_requests_per_second: a cap on the batch's request rate; None for no cap.
    :param unknown_outcome_retries: how often a create whose outcome stayed unknown, and whose
        activity was not found, is sent again.
    :param progress_interval: seconds between progress lines in the task log.
    :param full_results: for a list, keep each activity as Kizen returned it in the results, instead
        of its summary (id, activity_object, due_datetime, completed_at). A whole activity costs about
        6 KB of worker memory and of XCom per record: keep this off for large batches.
    """

    template_fields: Sequence[str] = ("payload",)
    template_fields_renderers = {"payload": "json"}
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        payload: Any,
        kizen_conn_id: str = KizenHook.default_conn_name,
        dedupe_key: str | None = None,
        skip_invalid: bool = False,
        fail_on_error: bool = True,
        dry_run: bool = False,
        max_concurrency: int = 8,
        max_requests_per_second: float | None = None,
        unknown_outcome_retries: int = 3,
        progress_interval: float = 5.0,
        full_results: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        if isinstance(payload, list):
            payload = [_as_json(record) for record in payload]
        self.payload = _as_json(payload)
        self.kizen_conn_id = kizen_conn_id
        self.dedupe_key = dedupe_key
        self.skip_invalid = skip_invalid
        self.fail_on_error = fail_on_error
        self.is_dry_run = dry_run
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = max_requests_per_second
        self.unknown_outcome_retries = unknown_outcome_retries
        self.progress_interval = progress_interval
        self.full_results = full_results
        self._runner: BatchRunner | None = None

    @cached_property
    def hook(self) -> KizenHook:
        return KizenHook(kizen_conn_id=self.kizen_conn_id)

    def execute(self, context: Context) -> Any:
        records, single = parse_payload(self.payload)
        checked = self._check(records)
        if checked.invalid:
            self._report_invalid(context, checked, len(records))
        if self.is_dry_run:
            return self._dry_run(records, checked, single)
        results = self._create(context, records, checked, full=single or self.full_results)
        failures = [_failure(result) for result in results if result["status"] in ("failed", "invalid")]
        context["ti"].xcom_push(
            key="activity_ids", value=[r["activity_id"] for r in results if r["activity_id"]]
        )
        context["ti"].xcom_push(key="failures", value=failures)
        failed = [entry for entry in failures if entry["status"] == "failed"]
        if failed and self.fail_on_error:
            raise AirflowException(_summary(f"{len(failed)} of {len(records)} records failed", failed))
        if single:
            return self._single_result(results[0])
        return results

    def on_kill(self) -> None:
        # Called from a signal handler while the batch runs: the runner stops, records what is done.
        if self._runner is not None:
            self._runner.cancel()

    # --- validation -----------------------------------------------------------------------------

    def _payload_of(self, record: Any) -> tuple[dict[str, Any], str | None]:
        """The write payload of a raw record, and its user key (None when there is no dedupe_key)."""
        if not isinstance(record, Mapping):
            raise TypeError(f"a record must be an object, not {type(record).__name__}")
        body = dict(record)
        if self.dedupe_key is None:
            return body, None
        key = user_record_key(body.get(self.dedupe_key))
        if self.dedupe_key not in ScheduledActivityWrite.model_fields:
            body.pop(self.dedupe_key, None)  # record metadata, not a Kizen field
        return body, key

    def _validate(self, index: int, record: Any) -> tuple[str, ScheduledActivityWrite]:
        """Record key and write model of one record; raises InvalidRecord naming the fields at fault."""
        try:
            body, user_key = self._payload_of(record)
        except TypeError as exc:
            raise InvalidRecord(index, hash_record_key({"record": record}), {"payload": [str(exc)]}) from None
        errors: dict[str, list[str]] = {}
        if self.dedupe_key is not None and user_key is None:
            errors[self.dedupe_key] = ["The dedupe key is missing or empty."]
        try:
            model = ScheduledActivityWrite.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                errors.setdefault(_field_name(error["loc"]), []).append(error["msg"])
        if errors:
            raise InvalidRecord(index, user_key or hash_record_key(body), errors)
        return user_key or hash_record_key(model.to_request_json()), model

    def _check(self, records: list[Any]) -> Checked:
        """Validate every record before anything is sent; keeps only keys, never the models."""
        checked = Checked()
        for index, record in enumerate(records):
            try:
                key, _ = self._validate(index, record)
            except InvalidRecord as invalid:
                checked.invalid[index] = invalid
                key = invalid.record_key
            checked.keys.append(key)
        return checked

    def _report_invalid(self, context: Context, checked: Checked, total: int) -> None:
        for invalid in checked.invalid.values():
            self.log.warning("Invalid %s", invalid)
        headline = f"{len(checked.invalid)} of {total} records are invalid"
        if not self.skip_invalid:
            failures = [_failure(_invalid_result(invalid)) for invalid in checked.invalid.values()]
            context["ti"].xcom_push(key="failures", value=failures)
            raise AirflowFailException(_summary(f"{headline}; nothing was sent", failures))
        self.log.warning("%s; skipping them (skip_invalid=True)", headline)

    # --- dry run --------------------------------------------------------------------------------

    def _dry_run(self, records: list[Any], checked: Checked, single: bool) -> Any:
        payloads = []
        for index, record in enumerate(records):
            if index in checked.invalid:
                continue
            key, model = self._validate(index, record)
            payload = model.to_request_json()
            entities = len(payload.get("associated_entities") or ())
            self.log.info(
                "Dry run: record %d (key %s) would create a %s due %s with %d associated entities "
                "and a note of %d characters",
                index,
                key,
                payload.get("activity_object_name") or payload.get("activity_object_id"),
                payload.get("due_datetime"),
                entities,
                len(payload.get("note") or ""),
            )
            self.log.debug("Dry run: record %d would send %s", index, payload)
            payloads.append(payload)
        self.log.info("Dry run: %d records validated; nothing was sent", len(payloads))
        if single:
            return payloads[0] if payloads else None
        return payloads

    # --- creating -------------------------------------------------------------------------------

    def _create(
        self, context: Context, records: list[Any], checked: Checked, *, full: bool
    ) -> list[dict[str, Any]]:
        """Send every valid record not already done; one result per record, in input order."""
        ledger = ProgressLedger(context.get("task_state_store"))
        resumed = ledger.resume(input_fingerprint(checked.keys), len(records))
        if not ledger.durable:
            self.log.warning(
                "This Airflow has no task_state_store: a retry cannot skip finished records, so on a "
                "retry every record is looked for in Kizen before it is sent"
            )
            if context["ti"].try_number > 1:
                resumed.uncertain_before = len(records)
        if resumed.created:
            self.log.info("Resuming: %d records were created by an earlier try", len(resumed.created))

        results: list[dict[str, Any] | None] = [None] * len(records)
        # Records sharing a key are one logical record: only the first valid one is sent.
        first_with_key: dict[str, int] = {}
        duplicate_of: dict[int, int] = {}
        for index, key in enumerate(checked.keys):
            if index in checked.invalid:
                results[index] = _invalid_result(checked.invalid[index])
            elif key in first_with_key:
                duplicate_of[index] = first_with_key[key]
            else:
                first_with_key[key] = index
        del first_with_key  # one entry per record: not worth keeping through the batch

        def items() -> Iterator[BatchItem]:
            # Models are rebuilt one at a time here, so a large batch never holds them all at once.
            for index, record in enumerate(records):
                if results[index] is None and index not in duplicate_of:
                    key = checked.keys[index]
                    _, model = self._validate(index, record)
                    yield BatchItem(
                        index,
                        key,
                        model,
                        look_first=index < resumed.uncertain_before,
                        recorded_id=resumed.created.get(key),
                    )

        def on_outcome(item: BatchItem, outcome: Outcome) -> None:
            results[item.index] = _result(item.index, item.record_key, outcome)

        total = len(records) - len(checked.invalid) - len(duplicate_of)
        started = time.monotonic()
        describe = full_activity if full else ActivitySummaries()
        self._run(ledger, items(), total, on_outcome, describe=describe, claimed=resumed.created.values())
        for index, first in duplicate_of.items():
            results[index] = _same_as(index, results[first])
        final = [result for result in results if result is not None]
        self._log_summary(final, time.monotonic() - started)
        return final

    def _run(
        self,
        ledger: ProgressLedger,
        items: Iterator[BatchItem],
        total: int,
        on_outcome: Callable[[BatchItem, Outcome], None],
        *,
        describe: Callable[[ScheduledActivity], dict[str, Any]],
        claimed: Iterable[str],
    ) -> None:
        runner = BatchRunner(
            self.hook,
            ledger,
            max_concurrency=self.max_concurrency,
            max_requests_per_second=self.max_requests_per_second,
            unknown_outcome_retries=self.unknown_outcome_retries,
            log=self.log,
            progress_interval=self.progress_interval,
            describe=describe,
            claimed=claimed,
        )

        async def run() -> None:
            try:
                await runner.run(items, total, on_outcome)
            finally:
                await self.hook.aclose()

        # Read the connection here, on the worker thread: the batch then never asks the supervisor for it
        # from the event loop while checkpoints are being written from another thread.
        self.hook.get_config()
        self._runner = runner
        try:
            asyncio.run(run())
        except asyncio.CancelledError:
            raise AirflowException(
                "The batch was stopped (on_kill); the activities created so far are recorded and a retry "
                "skips them"
            ) from None
        finally:
            self._runner = None

    def _single_result(self, result: dict[str, Any]) -> dict[str, Any] | None:
        if result["activity_id"] is None:  # invalid, or failed under fail_on_error=False
            return None
        activity: dict[str, Any] = result["activity"]
        return activity

    def _log_summary(self, results: list[dict[str, Any]], seconds: float) -> None:
        counts: dict[str, int] = {}
        for result in results:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        self.log.info("Kizen batch finished in %.1fs: %s", seconds, summary or "no records")


def _result(index: int, record_key: str, outcome: Outcome) -> dict[str, Any]:
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
    return result


def _invalid_result(invalid: InvalidRecord) -> dict[str, Any]:
    return {
        "index": invalid.index,
        "record_key": invalid.record_key,
        "status": "invalid",
        "activity_id": None,
        "error": str(invalid),
        "field_errors": invalid.field_errors,
    }


def _same_as(index: int, first: dict[str, Any] | None) -> dict[str, Any]:
    """The result of a record whose key an earlier record of the same batch already carries."""
    if first is None:
        raise AirflowException(f"record {index}: the record it duplicates has no result")
    result = {**first, "index": index}
    if first["status"] == "created":
        result["status"] = "already_existed"
    return result


def _failure(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("index", "record_key", "status", "error", "field_errors")
    return {key: result[key] for key in keys}


def _summary(headline: str, failures: list[dict[str, Any]]) -> str:
    quoted = "\n".join(f"  {entry['error']}" for entry in failures[:QUOTED_ERRORS])
    more = len(failures) - QUOTED_ERRORS
    tail = f"\n  ... and {more} more (XCom key 'failures')" if more > 0 else ""
    return f"{headline}:\n{quoted}{tail}"
