"""Run kizen_warehouse_followups, then kizen_followup_escalation, against a running Kizen emulator.

`scripts/demo.sh` prepares the environment (AIRFLOW_HOME, the DAGs folder, the emulator's connection,
the sample SQLite warehouse) and calls this. The follow-ups DAG schedules the follow-ups and updates
the ledger asset; the escalation DAG then waits for the high-priority ones, while a simulated sales
rep logs some of them in Kizen; the rest run past the deadline and are escalated. On a fresh
warehouse, the sales team then changes it (a follow-up moved, a reason corrected, a deal closed) and
the follow-ups DAG runs again, updating and cancelling in place. Then a summary is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DAG_ID = "kizen_warehouse_followups"
ESCALATION_DAG_ID = "kizen_followup_escalation"
SOURCE_TABLE = "kizen_followup_requests"
LEDGER_TABLE = "kizen_followup_ledger"
ACTIVITIES_PATH = "/api/activities/scheduled-activity"
# What the sales team changes in a fresh warehouse after the first runs, and how the summary says it.
MOVED_KEY, MOVED_BY_DAYS = "opp-1006", 7
CORRECTED_KEY, CORRECTED_REASON = "opp-1003", "Downloaded the pricing sheet twice; ask if the team plan fits."
CLOSED_KEY = "opp-1005"
# The counts `report_results` returns that the summary shows.
STATUSES = ("created", "updated", "unchanged", "completed", "cancelled")
REPO_ROOT = Path(__file__).resolve().parents[1]


class SalesRep(threading.Thread):
    """Logs (completes) the new follow-ups of some contacts in the emulator, as a person would in Kizen."""

    def __init__(self, control: Any, emails: set[str]) -> None:
        super().__init__(daemon=True)
        self.control = control
        self.emails = emails
        self.already_there = {activity["id"] for activity in control.activities()}
        self.completed: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.3):
            for activity in self.control.activities():
                if (
                    activity["id"] not in self.already_there
                    and activity["completed_at"] is None
                    and not activity["note"].startswith("Escalation:")
                    and contact_email(activity) in self.emails
                ):
                    self.control.complete(activity["id"])
                    self.completed.append(contact_email(activity))
                    self.already_there.add(activity["id"])


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send everything written to stdout and stderr (Airflow's and the tasks' logs) to `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, original in enumerate(saved, start=1):
                os.dup2(original, fd)
                os.close(original)


def count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def contact_email(activity: dict[str, Any]) -> str:
    return str(activity["associated_entities"][0]["entity"]["email"])


def ledger(hook: Any) -> dict[str, str | None]:
    """record key -> escalation activity id, of every ledger row (none before the first run)."""
    if not hook.get_records(f"SELECT name FROM sqlite_master WHERE name = '{LEDGER_TABLE}'"):
        return {}
    return dict(hook.get_records(f"SELECT record_key, escalation_activity_id FROM {LEDGER_TABLE}"))


def change_the_warehouse(hook: Any) -> str:
    """Change the warehouse as the sales team would; returns what they did, for the summary."""
    # The demo's warehouse is SQLite: its DATE() moves a date, and `?` marks a parameter.
    changes = (
        ("follow_up_on = DATE(follow_up_on, ?)", f"+{MOVED_BY_DAYS} days", MOVED_KEY),
        ("reason = ?", CORRECTED_REASON, CORRECTED_KEY),
        ("needs_followup = ?", 0, CLOSED_KEY),
    )
    for assignment, value, key in changes:
        hook.run(f"UPDATE {SOURCE_TABLE} SET {assignment} WHERE record_key = ?", parameters=(value, key))
    return (
        f"Then the sales team moves {MOVED_KEY}'s follow-up {MOVED_BY_DAYS} days later, corrects"
        f" {CORRECTED_KEY}'s reason and closes {CLOSED_KEY}:"
    )


def reported_counts(run: Any) -> dict[str, int]:
    """What the run's `report_results` task returned: how many follow-ups it created, updated..."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=run.run_id, dag_ids=DAG_ID, task_ids="report_results", key="return_value"
        )
        xcom = session.scalars(query).first()
        return XComModel.deserialize_value(xcom) if xcom else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo-dir", type=Path, required=True)
    parser.add_argument("--emulator-url", required=True)
    args = parser.parse_args()

    dags_folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    # The sample rows, to tell the summary which contact each ledger row is about.
    sys.path.insert(0, str(REPO_ROOT))
    from example_dags.kizen_sample_warehouse import FOLLOWUP_REQUESTS, HIGH_PRIORITY_EMAILS

    log_path = args.demo_dir / "dag-test.log"
    print(f"Running {DAG_ID}, then {ESCALATION_DAG_ID} (Airflow's log: {log_path})...", flush=True)
    summary: list[str] = []
    with output_to(log_path):
        from airflow.dag_processing.dagbag import DagBag
        from airflow.sdk import BaseHook

        from airflow_provider_kizen.emulator import seed
        from airflow_provider_kizen.emulator.testing import EmulatorControl

        hook = BaseHook.get_connection("kizen_warehouse").get_hook()
        before = ledger(hook)
        bag = DagBag(dag_folder=dags_folder)
        followups, escalation = bag.get_dag(DAG_ID), bag.get_dag(ESCALATION_DAG_ID)
        if followups is None or escalation is None:
            raise SystemExit(f"The example DAGs did not load from {dags_folder}; see {log_path}")
        roles = {role["name"]: role["id"] for role in seed.ROLES}
        control = EmulatorControl(args.emulator_url)

        def run_followups() -> Any:
            """Run the follow-ups DAG and add its lines to the summary, with the writes it sent Kizen."""
            seen = len(control.requests(ACTIVITIES_PATH))
            run = followups.test(run_conf={"fallback_role_id": roles["Account Manager"]})
            new_requests = control.requests(ACTIVITIES_PATH)[seen:]
            writes = sum(1 for request in new_requests if request["method"] != "GET")
            counts = reported_counts(run)
            summary.extend(
                [
                    f"{DAG_ID}: run {run.run_id} finished in state {run.state}",
                    "  follow-ups:  " + ", ".join(f"{counts.get(name, 0)} {name}" for name in STATUSES),
                    f"  writes:      {count(writes, 'request')} that changed Kizen",
                    f"  ledger rows: {len(ledger(hook))} in {LEDGER_TABLE}",
                ]
            )
            return run

        # The rep gets to every new high-priority follow-up but the last one, which is escalated.
        rep = SalesRep(control, set(HIGH_PRIORITY_EMAILS[:-1]))
        runs = [run_followups()]
        # In a running Airflow the ledger asset starts the escalation DAG when the follow-ups run
        # announces new high-priority follow-ups; dag.test() needs asking.
        if runs[0].get_task_instance("announce_high_priority").state != "success":
            summary.append(f"{ESCALATION_DAG_ID}: not started, no new high-priority follow-up to watch")
        else:
            rep.start()
            try:
                # Short waits, so the demo finishes in seconds (the DAG's defaults are hours).
                escalation_run = escalation.test(
                    run_conf={
                        "completion_timeout_seconds": 4,
                        "poke_interval_seconds": 1,
                        "escalation_role_id": roles["Customer Success"],
                    }
                )
            finally:
                rep.stopped.set()
                rep.join()
            runs.append(escalation_run)
            emails = {key: email for key, email, *_ in FOLLOWUP_REQUESTS}
            escalated = sorted(
                emails[key]
                for key, escalation_id in ledger(hook).items()
                if escalation_id and not before.get(key)
            )
            noun = "high-priority follow-up"
            summary += [
                f"{ESCALATION_DAG_ID}: run {escalation_run.run_id} finished in state {escalation_run.state}",
                f"  completed:   {count(len(rep.completed), noun)}, logged while the DAG waited",
                f"  escalated:   {count(len(escalated), noun)} past the deadline"
                + (f": {', '.join(escalated)}" if escalated else ""),
            ]
        # A fresh warehouse, just scheduled: the sales team changes it, and the next run keeps Kizen in step.
        if not before:
            summary.append(change_the_warehouse(hook))
            runs.append(run_followups())
    print("\n".join(summary))
    return 0 if all(run.state == "success" for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
