"""Run kizen_warehouse_followups once against a running Kizen emulator and a SQLite warehouse.

`scripts/demo.sh` prepares the environment (AIRFLOW_HOME, the DAGs folder, the emulator's connection)
and calls this. While the DAG waits for the high-priority follow-ups, a simulated sales rep logs some
of them in Kizen; the rest run past the deadline and are escalated. Then a summary is printed.
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
from urllib.parse import quote

DAG_ID = "kizen_warehouse_followups"
SOURCE_TABLE = "kizen_followup_requests"
LEDGER_TABLE = "kizen_followup_ledger"
# Short waits, so the demo finishes in seconds; the DAG's defaults are hours.
RUN_CONF = {"completion_timeout_seconds": 4, "poke_interval_seconds": 1}


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


def ledger(hook: Any) -> list[dict[str, Any]]:
    from example_dags.kizen_example_support import ensure_ledger, query_dicts

    ensure_ledger(hook, LEDGER_TABLE)
    return query_dicts(hook, f"SELECT record_key, escalation_activity_id FROM {LEDGER_TABLE}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo-dir", type=Path, required=True)
    parser.add_argument("--emulator-url", required=True)
    args = parser.parse_args()

    warehouse_db = args.demo_dir / "warehouse.db"
    new_warehouse = not warehouse_db.exists()
    os.environ["AIRFLOW_CONN_KIZEN_WAREHOUSE"] = "sqlite://" + quote(str(warehouse_db), safe="")
    dags_folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    # As Airflow does when it parses DAGs: the example DAGs import their helpers from the DAGs folder.
    sys.path.insert(0, dags_folder)

    log_path = args.demo_dir / "dag-test.log"
    print(f"Running {DAG_ID} (Airflow's log: {log_path})...", flush=True)
    with output_to(log_path):
        from airflow.dag_processing.dagbag import DagBag

        from airflow_provider_kizen.emulator.testing import EmulatorControl
        from example_dags.kizen_example_support import warehouse_hook
        from example_dags.kizen_sample_warehouse import (
            FOLLOWUP_REQUESTS,
            HIGH_PRIORITY_EMAILS,
            create_followup_requests,
        )

        hook = warehouse_hook("kizen_warehouse")
        if new_warehouse:
            create_followup_requests(hook, SOURCE_TABLE)
        before = ledger(hook)
        dag = DagBag(dag_folder=dags_folder).get_dag(DAG_ID)
        if dag is None:
            raise SystemExit(f"{DAG_ID} did not load from {dags_folder}; see {log_path}")
        control = EmulatorControl(args.emulator_url)
        # The rep gets to every high-priority follow-up but the last one, which is escalated.
        rep = SalesRep(control, set(HIGH_PRIORITY_EMAILS[:-1]))
        rep.start()
        try:
            dag_run = dag.test(run_conf=RUN_CONF)
        finally:
            rep.stopped.set()
            rep.join()
        after = ledger(hook)
    escalated_before = {row["record_key"] for row in before if row["escalation_activity_id"]}
    emails = {key: email for key, email, *_ in FOLLOWUP_REQUESTS}
    escalated = sorted(
        emails[row["record_key"]]
        for row in after
        if row["escalation_activity_id"] and row["record_key"] not in escalated_before
    )
    scheduled = len(after) - len(before)
    print(f"{'Created' if new_warehouse else 'Reused'} the SQLite warehouse {warehouse_db}")
    print(f"{DAG_ID}: run {dag_run.run_id} finished in state {dag_run.state}")
    if scheduled:
        print(f"  scheduled:   {count(scheduled, 'follow-up')}, new in Kizen")
    else:
        print("  scheduled:   0 follow-ups; every row that needs one already has a ledger row")
    print(
        f"  completed:   {count(len(rep.completed), 'high-priority follow-up')}, logged while the DAG waited"
    )
    print(
        f"  escalated:   {count(len(escalated), 'high-priority follow-up')} past the deadline"
        + (f": {', '.join(escalated)}" if escalated else "")
    )
    print(f"  ledger rows: {len(after)} in {LEDGER_TABLE}")
    return 0 if dag_run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
