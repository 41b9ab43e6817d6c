"""Create the sample warehouse tables that the example DAGs read, with rows for the Kizen emulator.

Run it once against your own Airflow's `kizen_warehouse` connection (any common.sql database):

    python kizen_sample_warehouse.py                # or --conn-id another_connection

It creates `kizen_followup_requests` (for kizen_warehouse_followups) and `kizen_new_customers` (for
kizen_onboarding_cadence, signed up today), and refuses to touch tables that already exist. The
contacts and employees are those the Kizen emulator (`kizen-emulator`) starts with.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

from airflow.providers.common.sql.hooks.sql import DbApiHook

FOLLOWUP_REQUESTS_TABLE = "kizen_followup_requests"
NEW_CUSTOMERS_TABLE = "kizen_new_customers"
# Employee ids of the emulator's team: Jordan (account manager), Priya (customer success), Sam (sales).
JORDAN_ID = "ddbc8b84-0900-527e-802a-30ffbc986175"
PRIYA_ID = "f67002ae-2640-5fa9-9389-07928cebaa79"
SAM_ID = "52ceac6b-5c9c-5ba6-a5a1-6f0e0373c3f5"

FOLLOWUP_REQUESTS_DDL = f"""
CREATE TABLE {FOLLOWUP_REQUESTS_TABLE} (
    record_key VARCHAR(255) NOT NULL PRIMARY KEY,
    contact_email VARCHAR(255) NOT NULL,
    timezone VARCHAR(64) NOT NULL,
    priority VARCHAR(16) NOT NULL,
    reason VARCHAR(2000) NOT NULL,
    owner_employee_id VARCHAR(64),
    follow_up_on DATE,
    needs_followup INTEGER NOT NULL
)
"""
FOLLOWUP_REQUEST_COLUMNS = (
    "record_key", "contact_email", "timezone", "priority", "reason", "owner_employee_id", "follow_up_on",
    "needs_followup",
)  # fmt: skip
# `follow_up_on` is given in days from the day the table is created (None: the row has no date).
FOLLOWUP_REQUESTS = (
    ("opp-1001", "ada.lovelace@example.com", "Europe/London", "high",
     "Renewal quote sent on Monday; confirm the seat count before it expires.", JORDAN_ID, None, 1),
    ("opp-1002", "grace.hopper@example.com", "America/New_York", "high",
     "Asked for a security review call; bring the compliance pack.", PRIYA_ID, None, 1),
    ("opp-1003", "alan.turing@example.com", "Europe/London", "normal",
     "Downloaded the pricing sheet twice; ask which plan fits.", None, None, 1),
    ("opp-1004", "katherine.johnson@example.com", "America/Chicago", "high",
     "Trial ends this week and usage doubled; offer the annual plan.", SAM_ID, None, 1),
    ("opp-1005", "edsger.dijkstra@example.com", "Europe/Amsterdam", "normal",
     "Reported a bug in the export; check the fix works for them.", JORDAN_ID, None, 1),
    ("opp-1006", "barbara.liskov@example.com", "America/Los_Angeles", "normal",
     "Attended the webinar; share the recording and the case study.", None, 3, 1),
    ("opp-1007", "donald.knuth@example.com", "America/Los_Angeles", "normal",
     "Signed last week; no follow-up needed.", None, None, 0),
    ("opp-1008", "margaret.hamilton@example.com", "America/New_York", "high",
     "Contract countersigned; nothing to chase.", PRIYA_ID, None, 0),
)  # fmt: skip
# The contacts of the high-priority rows that need a follow-up.
HIGH_PRIORITY_EMAILS = (
    "ada.lovelace@example.com",
    "grace.hopper@example.com",
    "katherine.johnson@example.com",
)

NEW_CUSTOMERS_DDL = f"""
CREATE TABLE {NEW_CUSTOMERS_TABLE} (
    customer_key VARCHAR(255) NOT NULL PRIMARY KEY,
    contact_email VARCHAR(255) NOT NULL,
    timezone VARCHAR(64) NOT NULL,
    account_manager_id VARCHAR(64),
    signed_up_on DATE NOT NULL
)
"""
NEW_CUSTOMER_COLUMNS = ("customer_key", "contact_email", "timezone", "account_manager_id", "signed_up_on")
NEW_CUSTOMERS = (
    ("cust-2001", "donald.knuth@example.com", "America/Los_Angeles", JORDAN_ID),
    ("cust-2002", "margaret.hamilton@example.com", "America/New_York", None),
)


def create_followup_requests(hook: DbApiHook) -> None:
    """Create the follow-up requests table with its sample rows, dated from today."""
    hook.run(FOLLOWUP_REQUESTS_DDL)
    rows = [
        (*fields, None if in_days is None else (date.today() + timedelta(days=in_days)).isoformat(), needed)
        for *fields, in_days, needed in FOLLOWUP_REQUESTS
    ]
    hook.insert_rows(FOLLOWUP_REQUESTS_TABLE, rows, target_fields=list(FOLLOWUP_REQUEST_COLUMNS))


def create_new_customers(hook: DbApiHook, signed_up_on: date) -> None:
    """Create the new customers table with its sample customers, all signed up on `signed_up_on`."""
    hook.run(NEW_CUSTOMERS_DDL)
    rows = [(*customer, signed_up_on.isoformat()) for customer in NEW_CUSTOMERS]
    hook.insert_rows(NEW_CUSTOMERS_TABLE, rows, target_fields=list(NEW_CUSTOMER_COLUMNS))


def main() -> None:
    import os

    from airflow.models.connection import Connection

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conn-id", default="kizen_warehouse", help="the warehouse connection's id")
    conn_id = parser.parse_args().conn_id
    # Outside a task, only Airflow's core model reads connections from the metadata database; the
    # SQL hooks read them through the Task SDK, which sees environment variables. So hand it over.
    connection = Connection.get_connection_from_secrets(conn_id)
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = connection.as_json()
    hook = connection.get_hook()
    create_followup_requests(hook)
    create_new_customers(hook, date.today())
    print(f"Created {FOLLOWUP_REQUESTS_TABLE} and {NEW_CUSTOMERS_TABLE} in the {conn_id!r} warehouse.")


if __name__ == "__main__":
    main()
