"""Escalate the high-priority Kizen follow-ups that nobody completes in time.

Runs whenever `kizen_warehouse_followups` updates the follow-up ledger (an Asset):

1. `followups_to_watch` reads the high-priority follow-ups named by the ledger update that started
   the run (a run triggered by hand takes the latest update).
2. `wait_for_completion` waits in the triggerer, holding no worker slot, until they are completed. At
   `completion_timeout_seconds` it is skipped (soft fail), not failed: being late is a normal outcome.
3. `find_overdue` takes the follow-ups the sensor reported still pending (its `pending_ids` XCom),
   without asking Kizen again, and `route_overdue` branches: each overdue one gets an escalation for
   the escalation role (`schedule_escalations`), whose id `record_escalations` writes onto the
   follow-up's ledger row; or nothing is needed.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, BaseHook, Param, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator
from airflow_provider_kizen.sensors.scheduled_activity import ScheduledActivityCompletedSensor

WAREHOUSE_CONN_ID = "kizen_warehouse"
LEDGER_TABLE = "kizen_followup_ledger"
LEDGER = Asset("kizen_followup_ledger")

with DAG(
    dag_id="kizen_followup_escalation",
    description="Escalate the high-priority Kizen follow-ups that are not completed in time",
    schedule=[LEDGER],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    doc_md=__doc__,
    tags=["kizen", "example"],
    params={
        "completion_timeout_seconds": Param(
            4 * 3600,
            type="integer",
            minimum=1,
            title="Deadline (seconds)",
            description="How long people have to complete a high-priority follow-up.",
        ),
        "poke_interval_seconds": Param(
            60,
            type="integer",
            minimum=1,
            title="Poll interval (seconds)",
            description="How often the triggerer asks Kizen.",
        ),
        "escalation_role_id": Param(
            None,
            type=["null", "string"],
            format="uuid",
            title="Escalation role id",
            description="The Kizen role (GET /api/role) that gets the escalations. "
            "Empty: Kizen assigns them to the API user.",
        ),
        "activity_type": Param(
            "follow_up_call",
            type="string",
            minLength=1,
            title="Activity type",
            description="The api_name of the escalation's Kizen activity type.",
        ),
    },
) as dag:

    @task(inlets=[LEDGER])
    def followups_to_watch(triggering_asset_events: Any, inlet_events: Any) -> list[dict[str, str]]:
        """The follow-ups named by the ledger updates that started this run, or by the latest one."""
        events = triggering_asset_events.get(LEDGER) or inlet_events[LEDGER][-1:]
        return [followup for event in events for followup in event.extra.get("watch", [])]

    @task
    def wait_arguments(watch: list[dict[str, str]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """The sensor's arguments from the run's params, or none (so it is skipped) with nothing to watch."""
        if not watch:
            return []
        return [
            {
                "activity_ids": [followup["activity_id"] for followup in watch],
                "timeout": params["completion_timeout_seconds"],
                "poke_interval": params["poke_interval_seconds"],
            }
        ]

    @task(trigger_rule="none_failed_min_one_success")
    def find_overdue(watch: list[dict[str, str]], ti: Any) -> list[dict[str, str]]:
        """The watched follow-ups the sensor found still pending when its deadline passed.

        The sensor pushes `pending_ids` before it is skipped (and `[]` when it succeeds); a run with
        nothing to watch has no sensor instance, so nothing is pending.
        """
        pending = ti.xcom_pull(task_ids="wait_for_completion", key="pending_ids", map_indexes=0) or []
        return [row for row in watch if row["activity_id"] in set(pending)]

    @task.branch
    def route_overdue(overdue: list[dict[str, str]]) -> str:
        return "build_escalations" if overdue else "no_escalation_needed"

    @task
    def build_escalations(overdue: list[dict[str, str]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """One escalation per overdue follow-up, due within the hour, with a text reminder."""
        role = {"role_id": params["escalation_role_id"]} if params["escalation_role_id"] else {}
        return [
            {
                "record_key": row["record_key"],
                "activity_object_name": params["activity_type"],
                "due_datetime": pendulum.now("UTC").add(hours=1).isoformat(),
                "note": f"Escalation: the high-priority follow-up with {row['contact_email']} "
                f"(activity {row['activity_id']}, record {row['record_key']}) was not completed in time.",
                "associated_entities": [
                    {"custom_object": {"name": "client_client"}, "entity": {"name": row["contact_email"]}}
                ],
                "notifications": [{"type": "text", "time_amount": 15, "time_unit": "minute"}],
                **role,
            }
            for row in overdue
        ]

    @task
    def record_escalations(results: list[dict[str, Any]]) -> None:
        """Put each escalation's activity id on its follow-up's ledger row."""
        hook = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
        mark = hook.placeholder
        sql = f"UPDATE {LEDGER_TABLE} SET escalation_activity_id = {mark} WHERE record_key = {mark}"
        for result in results:
            hook.run(sql, parameters=(result["activity_id"], result["record_key"]))

    watch = followups_to_watch()
    wait = ScheduledActivityCompletedSensor.partial(
        task_id="wait_for_completion", deferrable=True, soft_fail=True
    ).expand_kwargs(wait_arguments(watch))
    overdue = find_overdue(watch)
    wait >> overdue
    escalations = build_escalations(overdue)
    route_overdue(overdue) >> [escalations, EmptyOperator(task_id="no_escalation_needed")]
    scheduled = ScheduleActivityOperator(
        task_id="schedule_escalations", payload=escalations, dedupe_key="record_key"
    )
    record_escalations(scheduled.output)
