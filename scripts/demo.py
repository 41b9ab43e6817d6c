"""Run kizen_warehouse_followups, then kizen_followup_escalation, against a running Kizen emulator.

`scripts/demo.sh` prepares the environment (AIRFLOW_HOME, the DAGs folder, the emulator's connection,
the sample SQLite warehouse) and calls this. The follow-ups DAG schedules the follow-ups and updates
the ledger asset; the escalation DAG then waits for the high-priority ones, while a simulated sales
rep logs some of them in Kizen; the rest run past the deadline and are escalated. Then a summary is
printed.
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
LEDGER_TABLE = "kizen_followup_ledger"
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
        # The rep gets to every new high-priority follow-up but the last one, which is escalated.
        rep = SalesRep(control, set(HIGH_PRIORITY_EMAILS[:-1]))
        followups_run = followups.test(run_conf={"fallback_role_id": roles["Account Manager"]})
        rep.start()
        try:
            # In a running Airflow the ledger asset starts this DAG; dag.test() needs asking. Short
            # waits, so the demo finishes in seconds (the DAG's defaults are hours).
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
        after = ledger(hook)
    emails = {key: email for key, email, *_ in FOLLOWUP_REQUESTS}
    escalated = sorted(
        emails[key] for key, escalation_id in after.items() if escalation_id and not before.get(key)
    )
    scheduled = len(after) - len(before)
    print(f"{DAG_ID}: run {followups_run.run_id} finished in state {followups_run.state}")
    if scheduled:
        print(f"  scheduled:   {count(scheduled, 'follow-up')}, new in Kizen")
    else:
        print("  scheduled:   0 follow-ups; every row that needs one already has a ledger row")
    print(f"  ledger rows: {len(after)} in {LEDGER_TABLE}")
    print(f"{ESCALATION_DAG_ID}: run {escalation_run.run_id} finished in state {escalation_run.state}")
    print(
        f"  completed:   {count(len(rep.completed), 'high-priority follow-up')}, logged while the DAG waited"
    )
    print(
        f"  escalated:   {count(len(escalated), 'high-priority follow-up')} past the deadline"
        + (f": {', '.join(escalated)}" if escalated else "")
    )
    return 0 if followups_run.state == escalation_run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
