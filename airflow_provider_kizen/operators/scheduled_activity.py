"""ScheduleActivityOperator: one or many Kizen scheduled activities, validated first, created exactly once.

The hook and the batch machinery are imported when the task runs, not when a DAG file is parsed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_kizen import DEFAULT_CONN_ID
from airflow_provider_kizen.links.kizen_app import WEB_LINK_XCOM_KEY, KizenScheduledActivitiesLink
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite
from airflow_provider_kizen.operators.batch_settings import BatchSettings
from airflow_provider_kizen.operators.cancel import CancelScheduledActivitiesOperator
from airflow_provider_kizen.operators.ledger import ProgressLedger, input_fingerprint
from airflow_provider_kizen.operators.payloads import CheckedRecords, as_json, check_records, parse_payload
from airflow_provider_kizen.operators.results import (
    FAILED_STATUSES,
    FAILURES_IN_XCOM,
    LOGGED_ERRORS,
    LOGGED_RECORDS,
    failure,
    invalid_result,
    outcome_result,
    planned_result,
    record_line,
    same_as,
    status_counts,
    summary,
)
from airflow_provider_kizen.operators.templating import PlainData
from airflow_provider_kizen.operators.updating import UpdateRecord

if TYPE_CHECKING:
    import jinja2
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_kizen.hooks.kizen import KizenHook
    from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity
    from airflow_provider_kizen.operators.batch import BatchItem, BatchRunner, Outcome

# The cancel operator lives in its own module and is importable from here too.
__all__ = ["CancelScheduledActivitiesOperator", "ScheduleActivityOperator"]


class ScheduleActivityOperator(BaseOperator):
    """Create Kizen scheduled activities from one payload or a list of them, exactly once.

    Every record is validated with ``ScheduledActivityWrite``, once, before anything is sent. Records
    go through the async client with bounded concurrency and one shared pace. Each created id is
    recorded in the task's ``task_state_store``, so a retried task skips what is done.

    A record that carries its activity's id under ``activity_id_key`` is not created: the activity is
    read, compared field by field (by meaning) for the fields the record sets, and only the fields
    that differ are sent in one PATCH. A completed activity is never written; a gone one is reported.

    Returns a list with one result per input record, in input order (one payload gives a list of
    one): ``{index, record_key, status, activity_id, ...}``. ``status`` is ``created``,
    ``already_existed``, ``updated`` (with ``changed_fields``), ``unchanged`` or ``completed`` (with
    ``activity``), ``failed`` or ``invalid`` (with ``error`` and ``field_errors``), or, when
    ``plan_only=True``, ``would_create`` (with ``payload``, the body that would be sent) or
    ``would_update`` (with ``changed_fields``). ``activity`` is a summary unless ``full_results=True``
    or the input was one payload.
    Pushes XCom ``activity_ids`` (ids, in input order, of every record that now has an activity) and
    ``failures`` (the first 100 failed or invalid records) and ``failure_count`` (all of them) in every
    mode, plan-only and refused batches included.

    :param payload: one payload (dict or ``ScheduledActivityWrite``) or a list; templated. A string
        is parsed as JSON.
    :param kizen_conn_id: the ``kizen`` connection.
    :param dedupe_key: the field holding each record's own key. When it is not a field of the write
        model it is record metadata, and is removed before validation. Default: a hash of the payload.
    :param activity_id_key: the field in which a record carries its activity's id (record metadata,
        never sent); such a record updates that activity. None: every record is a create.
    :param skip_invalid: report invalid records and send the rest, instead of failing before sending.
    :param fail_on_error: fail the task when any record failed (after every record was attempted).
    :param plan_only: validate and log what would be sent, write nothing, and return ``would_create``
        results; records naming their activity are read and compared (``would_update``, ``unchanged``,
        ``completed``). (Not ``dry_run``, which is a method of ``BaseOperator``.)
    :param max_concurrency: records in flight at once.
    :param max_requests_per_second: a cap on the batch's request rate; None for no cap.
    :param unknown_outcome_retries: how often a create whose outcome stayed unknown, and whose
        activity a lookup proved absent, is sent again.
    :param resend_unsettled: send a record again when its outcome stays unknown (its create got no
        answer and no lookup could prove whether Kizen made it), accepting a possible duplicate. By
        default such a record is reported failed as *unsettled* and not sent again.
    :param accept_changed_input: on a later try whose records differ from the first try's and carry no
        ``dedupe_key``, send them anyway. By default the task refuses: nothing can tell which of them
        the first try already created, so sending could duplicate them.
    :param progress_interval: seconds between progress lines in the task log.
    :param full_results: keep each activity as Kizen returned it in the results, instead of its
        summary (id, activity_object, due_datetime, completed_at). A whole activity costs about
        6 KB of worker memory and of XCom per record: keep this off for large batches.

    With ``apache-airflow-providers-openlineage`` installed and enabled, the task reports Kizen's
    scheduled activities of the business as its output dataset, with a facet counting the records by
    status. Its "Kizen" link opens what it created in Kizen's web app (XCom ``kizen_web_link``).
    """

    template_fields: Sequence[str] = ("payload",)
    template_fields_renderers = {"payload": "json"}
    ui_color = "#e8f4fd"
    operator_extra_links = (KizenScheduledActivitiesLink(),)

    def __init__(
        self,
        *,
        payload: Any,
        kizen_conn_id: str = DEFAULT_CONN_ID,
        dedupe_key: str | None = None,
        activity_id_key: str | None = "activity_id",
        skip_invalid: bool = False,
        fail_on_error: bool = True,
        plan_only: bool = False,
        max_concurrency: int = 8,
        max_requests_per_second: float | None = None,
        unknown_outcome_retries: int = 3,
        resend_unsettled: bool = False,
        accept_changed_input: bool = False,
        progress_interval: float = 5.0,
        full_results: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(payload, list):
            payload = [as_json(record) for record in payload]
        self.payload = as_json(payload)
        self.kizen_conn_id = kizen_conn_id
        self.dedupe_key = dedupe_key
        if activity_id_key is not None and activity_id_key in ScheduledActivityWrite.model_fields:
            raise ValueError(
                f"activity_id_key {activity_id_key!r} is a field of Kizen's payload; name a field of "
                "your own, such as 'activity_id'"
            )
        if activity_id_key is not None and activity_id_key == dedupe_key:
            raise ValueError("activity_id_key and dedupe_key must be different fields")
        self.activity_id_key = activity_id_key
        self.skip_invalid = skip_invalid
        self.fail_on_error = fail_on_error
        self.plan_only = plan_only
        # Checked here, so a bad value fails when the DAG is parsed rather than when the task runs.
        self.batch_settings = BatchSettings(
            max_concurrency=max_concurrency,
            max_requests_per_second=max_requests_per_second,
            unknown_outcome_retries=unknown_outcome_retries,
            progress_interval=progress_interval,
            resend_unsettled=resend_unsettled,
            plan_only=plan_only,
        )
        self.accept_changed_input = accept_changed_input
        self.full_results = full_results
        self._runner: BatchRunner | None = None
        self._statuses: Counter[str] | None = None  # for lineage: how the records of this run went

    @cached_property
    def hook(self) -> KizenHook:
        from airflow_provider_kizen.hooks.kizen import KizenHook

        return KizenHook(kizen_conn_id=self.kizen_conn_id)

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Render as Airflow does, but hand back plain data (no template markers) as it is.

        Airflow compiles every string of a field as a Jinja template: for thousands of literal
        records that took most of a second per thousand. What `PlainData` passes renders to itself.
        """
        env = jinja_env or self.get_template_env()
        if PlainData(env, self.template_ext).holds(content):
            return content
        return super().render_template(content, context, env, seen_oids)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        records, single = parse_payload(self.payload)
        checked = check_records(records, self.dedupe_key, self.activity_id_key)
        if checked.invalid:
            self._report_invalid(context, checked, len(records))
        if self.plan_only:
            results = self._plan(checked)
        else:
            results = self._send(context, checked, full=single or self.full_results)
        failures = [failure(result) for result in results if result["status"] in FAILED_STATUSES]
        activity_ids = [r["activity_id"] for r in results if r["activity_id"]]
        self._push(context, activity_ids, failures)
        if not self.plan_only:
            self._statuses = Counter(result["status"] for result in results)
            web_link = self.hook.get_config().web_link(activity_ids)
            if web_link is not None:
                context["ti"].xcom_push(key=WEB_LINK_XCOM_KEY, value=web_link)
        failed = [entry for entry in failures if entry["status"] == "failed"]
        self._log_errors(failed, "Failed")
        if failed and self.fail_on_error:
            raise AirflowException(summary(f"{len(failed)} of {len(records)} records failed", failed))
        return results

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """Called by the OpenLineage provider, when installed, after the task ran (and after it failed)."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_provider_kizen.operators.lineage import scheduled_activities_lineage

        if self._statuses is None:  # plan only, or refused before anything was sent
            return OperatorLineage()
        config = self.hook.get_config()
        return scheduled_activities_lineage(config.base_url, config.business_id, self._statuses)

    def on_kill(self) -> None:
        # Called from a signal handler while the batch runs: the runner stops, records what is done.
        if self._runner is not None:
            self._runner.cancel()

    def _push(self, context: Context, activity_ids: list[str], failures: list[dict[str, Any]]) -> None:
        """`activity_ids`, the first FAILURES_IN_XCOM `failures` in full, and `failure_count`."""
        context["ti"].xcom_push(key="activity_ids", value=activity_ids)
        context["ti"].xcom_push(key="failures", value=failures[:FAILURES_IN_XCOM])
        context["ti"].xcom_push(key="failure_count", value=len(failures))

    def _log_errors(self, failures: list[dict[str, Any]], kind: str) -> None:
        """The first LOGGED_ERRORS failures as warnings, the rest at DEBUG, and how many there were."""
        for number, entry in enumerate(failures):
            level = logging.WARNING if number < LOGGED_ERRORS else logging.DEBUG
            self.log.log(level, "%s %s", kind, entry["error"])
        if len(failures) > LOGGED_ERRORS:
            self.log.warning(
                "%s: %d records in all; the first %d are above, the rest are logged at DEBUG, and the "
                "first %d are in the XCom 'failures'",
                kind,
                len(failures),
                LOGGED_ERRORS,
                FAILURES_IN_XCOM,
            )

    def _report_invalid(self, context: Context, checked: CheckedRecords, total: int) -> None:
        failures = [failure(invalid_result(invalid)) for invalid in checked.invalid.values()]
        self._log_errors(failures, "Invalid")
        headline = f"{len(checked.invalid)} of {total} records are invalid"
        if not self.skip_invalid:
            self._push(context, [], failures)
            raise AirflowFailException(summary(f"{headline}; nothing was sent", failures))
        self.log.warning("%s; skipping them (skip_invalid=True)", headline)

    def _plan(self, checked: CheckedRecords) -> list[dict[str, Any]]:
        """What a run would do, record by record, with nothing written.

        Records to create are only logged; records that name their activity are read and compared.
        """
        from airflow_provider_kizen.operators.batch import ActivitySummaries, BatchItem

        duplicate_of = checked.duplicates()
        results: list[dict[str, Any] | None] = [None] * len(checked.keys)
        to_compare: list[BatchItem] = []
        for index, key in enumerate(checked.keys):
            body = checked.bodies[index]
            if index in checked.invalid or body is None:
                results[index] = invalid_result(checked.invalid[index])
            elif index in duplicate_of:
                continue
            elif isinstance(body, UpdateRecord):
                to_compare.append(BatchItem(index, key, body))
            else:
                payload = body.to_request_json()
                self.log.info(
                    "Plan only: record %d (key %s) would create a %s due %s with %d associated entities "
                    "and a note of %d characters",
                    index,
                    key,
                    payload.get("activity_object_name") or payload.get("activity_object_id"),
                    payload.get("due_datetime"),
                    len(payload.get("associated_entities") or ()),
                    len(payload.get("note") or ""),
                )
                self.log.debug("Plan only: record %d would send %s", index, payload)
                results[index] = planned_result(index, key, payload)

        def on_outcome(item: BatchItem, outcome: Outcome) -> None:
            results[item.index] = outcome_result(item.index, item.record_key, outcome)

        if to_compare:
            self._run(
                None, iter(to_compare), len(to_compare), on_outcome, describe=ActivitySummaries(), claimed=()
            )
            self._log_records([result for item in to_compare if (result := results[item.index]) is not None])
        final = self._with_duplicates(results, duplicate_of)
        self.log.info("Plan only: %s; nothing was written", status_counts(final))
        return final

    def _log_records(self, results: list[dict[str, Any]]) -> None:
        """One line per record (ids, statuses, changed field names), for batches of at most LOGGED_RECORDS."""
        if len(results) <= LOGGED_RECORDS:
            for result in results:
                self.log.info("%s", record_line(result))

    @staticmethod
    def _with_duplicates(
        results: list[dict[str, Any] | None], duplicate_of: dict[int, int]
    ) -> list[dict[str, Any]]:
        for index, first in duplicate_of.items():
            results[index] = same_as(index, results[first])
        if None in results:
            return [result for result in results if result is not None]
        # Every record has its result: the list itself, rather than a copy of 100,000 references.
        return cast("list[dict[str, Any]]", results)

    def _send(self, context: Context, checked: CheckedRecords, *, full: bool) -> list[dict[str, Any]]:
        """Create every new record not already done, and bring every named activity in step.

        One result per record, in input order.
        """
        from airflow_provider_kizen.operators.batch import ActivitySummaries, BatchItem, full_activity

        total_records = len(checked.keys)
        ledger = ProgressLedger(context["task_state_store"])
        resumed = ledger.resume(input_fingerprint(checked.keys), total_records)
        if resumed.no_ledger and context["ti"].try_number > 1:
            # A later try without an earlier try's ledger (emptied by retention, clear_on_success or a
            # Clear) cannot know what was sent: look for every record before sending it.
            self.log.warning(
                "Try %d found no record of earlier tries in task_state_store; every record is looked for "
                "in Kizen before it is sent",
                context["ti"].try_number,
            )
            resumed.uncertain_before = total_records
        if resumed.input_changed and self._send_changed_input_unchecked():
            resumed.uncertain_before = 0
        if resumed.created or resumed.updated:
            self.log.info(
                "Resuming: %d records were created and %d updated by an earlier try",
                len(resumed.created),
                len(resumed.updated),
            )

        results: list[dict[str, Any] | None] = [None] * total_records
        for index, invalid in checked.invalid.items():
            results[index] = invalid_result(invalid)
        duplicate_of = checked.duplicates()

        def items() -> Iterator[BatchItem]:
            for index, body in enumerate(checked.bodies):
                if body is None or index in duplicate_of:
                    continue
                checked.bodies[index] = None  # the item holds it now; freed once the record is done
                key = checked.keys[index]
                yield BatchItem(
                    index,
                    key,
                    body,
                    look_first=index < resumed.uncertain_before,
                    recorded_id=resumed.created.get(key),
                    recorded_changes=resumed.updated.get(key, ()),
                )
            checked.bodies.clear()  # every body went to the batch: the list of Nones goes too

        def on_outcome(item: BatchItem, outcome: Outcome) -> None:
            results[item.index] = outcome_result(item.index, item.record_key, outcome)

        to_send = total_records - len(checked.invalid) - len(duplicate_of)
        started = time.monotonic()
        describe = full_activity if full else ActivitySummaries()
        self._run(ledger, items(), to_send, on_outcome, describe=describe, claimed=resumed.created.values())
        final = self._with_duplicates(results, duplicate_of)
        self._log_records(final)
        self.log.info("Kizen batch finished in %.1fs: %s", time.monotonic() - started, status_counts(final))
        return final

    def _send_changed_input_unchecked(self) -> bool:
        """An earlier try sent a different input: refuse, unless keys make it safe or the user accepts.

        True when the user accepted sending without looking (``accept_changed_input``).
        """
        if self.dedupe_key is not None:
            self.log.warning(
                "The input differs from an earlier try's; records are matched to what it created by "
                "their %r, and the others are looked for in Kizen before they are sent",
                self.dedupe_key,
            )
            return False
        message = (
            "The records differ from those an earlier try of this task sent, and they carry no "
            "dedupe_key, so nothing can tell which of them the earlier try already created in Kizen; "
            "sending them could create duplicates, so nothing was sent. Fix: give each record a stable "
            "id and pass dedupe_key='<its field>', or render the payload the same on every try (from "
            "the run's logical date or data interval, not the current time). To send anyway, accepting "
            "possible duplicates, set accept_changed_input=True."
        )
        if not self.accept_changed_input:
            raise AirflowFailException(message)
        self.log.warning("%s (accept_changed_input=True: sending)", message)
        return True

    def _run(
        self,
        ledger: ProgressLedger | None,
        items: Iterator[BatchItem],
        total: int,
        on_outcome: Callable[[BatchItem, Outcome], None],
        *,
        describe: Callable[[ScheduledActivity], dict[str, Any]],
        claimed: Iterable[str],
    ) -> None:
        from airflow_provider_kizen.operators.batch import BatchRunner

        runner = BatchRunner(
            self.hook, ledger, self.batch_settings, log=self.log, describe=describe, claimed=claimed
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
