"""kizen_onboarding_cadence end to end: new customers in the warehouse -> three activities each in Kizen."""

from __future__ import annotations

from typing import Any

import pendulum

from airflow_provider_kizen.emulator import seed
from example_dags.kizen_sample_warehouse import JORDAN_ID, NEW_CUSTOMERS, create_new_customers

DAG_ID = "kizen_onboarding_cadence"
ROLE_IDS = {role["name"]: role["id"] for role in seed.ROLES}


def test_schedules_the_cadence_once_per_customer(warehouse, kizen_emulator, run_dag) -> None:
    create_new_customers(warehouse.hook(), pendulum.today("UTC").date())
    # A customer who signed up long before the look-back window gets nothing.
    old = ("cust-1999", "alan.turing@example.com", "Europe/London", None, "2020-01-01")
    warehouse.hook().insert_rows(
        "kizen_new_customers",
        [old],
        target_fields=["customer_key", "contact_email", "timezone", "account_manager_id", "signed_up_on"],
    )
    conf = {
        "account_manager_role_id": ROLE_IDS["Account Manager"],
        "onboarding_role_id": ROLE_IDS["Customer Success"],
    }

    first = run_dag(DAG_ID, conf)

    assert first.state == "success", first.task_states
    activities = kizen_emulator.control.activities()
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for activity in activities:
        by_customer.setdefault(activity["associated_entities"][0]["entity"]["email"], []).append(activity)
    assert set(by_customer) == {customer[1] for customer in NEW_CUSTOMERS}
    for _key, email, timezone, manager_id in NEW_CUSTOMERS:
        welcome, check_in, review = sorted(by_customer[email], key=lambda a: a["due_datetime"])
        assert [a["activity_object"]["api_name"] for a in (welcome, check_in, review)] == [
            "follow_up_call",
            "onboarding_check_in",
            "onboarding_check_in",
        ]
        day_zero = pendulum.parse(welcome["due_datetime"]).in_timezone(timezone)
        assert (day_zero.hour, day_zero.minute) == (10, 0)
        # Counted from now: the welcome call is never in the past.
        assert day_zero > pendulum.now(timezone)
        for activity in (check_in, review):
            due = pendulum.parse(activity["due_datetime"]).in_timezone(timezone)
            assert due.day_of_week < pendulum.WeekDay.SATURDAY
            assert (due.hour, due.minute) == (10, 0)
        assert 3 <= (pendulum.parse(check_in["due_datetime"]) - day_zero).in_days() <= 5
        assert 7 <= (pendulum.parse(review["due_datetime"]) - day_zero).in_days() <= 9
        # Reminders by text and by email.
        assert {n["type"] for n in welcome["notifications"]} == {"text"}
        assert {n["type"] for n in check_in["notifications"]} == {"email", "text"}
        # The check-in goes to the onboarding role; the others to the account manager, or their role.
        assert check_in["role"]["id"] == ROLE_IDS["Customer Success"]
        for activity in (welcome, review):
            if manager_id:
                assert manager_id == JORDAN_ID
                assert activity["employee"]["id"] == manager_id
            else:
                assert activity["role"]["id"] == ROLE_IDS["Account Manager"]
    ledger = warehouse.rows("SELECT record_key, activity_id FROM kizen_onboarding_ledger")
    assert {row["activity_id"] for row in ledger} == {a["id"] for a in activities}
    assert {row["record_key"] for row in ledger} == {
        f"{customer[0]}:{step}"
        for customer in NEW_CUSTOMERS
        for step in ("welcome_call", "day3_check_in", "day7_review")
    }

    second = run_dag(DAG_ID, conf)

    assert second.state == "success", second.task_states
    assert len(kizen_emulator.control.activities()) == len(activities)
