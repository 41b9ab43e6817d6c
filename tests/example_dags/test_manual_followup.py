"""kizen_manual_followup: the trigger form's params schedule one activity; bad values are refused."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest
from airflow.exceptions import ParamValidationError

from example_dags.kizen_sample_warehouse import JORDAN_ID

DAG_ID = "kizen_manual_followup"
GOOD_CONF: dict[str, Any] = {
    "contact_email": "grace.hopper@example.com",
    "activity_type": "proposal_review",
    "due_datetime": "2026-12-01T10:30",
    "timezone": "Europe/Paris",
    "note": "Walk through the proposal.\nBring the pricing options.",
    "reminders": [
        {"type": "email", "time_amount": 1, "time_unit": "day"},
        {"type": "text", "time_amount": 15, "time_unit": "minute"},
    ],
    "employee_id": JORDAN_ID,
}


@pytest.fixture
def serialized_dag(dag_bag: Any) -> Any:
    """The DAG as the scheduler and API server see it: deserialized from its serialized form."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag_bag.get_dag(DAG_ID)))


def test_schedules_one_followup_from_the_form(kizen_emulator, run_dag) -> None:
    result = run_dag(DAG_ID, GOOD_CONF)

    assert result.state == "success", result.task_states
    (activity,) = kizen_emulator.control.activities()
    assert activity["activity_object"]["api_name"] == "proposal_review"
    # A due time without an offset is read in the timezone param: 10:30 in Paris is 09:30 UTC.
    assert pendulum.parse(activity["due_datetime"]) == pendulum.datetime(2026, 12, 1, 9, 30, tz="UTC")
    assert activity["note"] == GOOD_CONF["note"]
    assert activity["employee"]["id"] == JORDAN_ID
    assert activity["associated_entities"][0]["entity"]["email"] == "grace.hopper@example.com"
    assert [(n["type"], n["time_amount"], n["time_unit"]) for n in activity["notifications"]] == [
        ("email", 1, "day"),
        ("text", 15, "minute"),
    ]


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"contact_email": "grace.hopper"}, "contact_email"),
        ({"activity_type": "lunch"}, "activity_type"),
        ({"due_datetime": "next tuesday"}, "due_datetime"),
        ({"note": ""}, "note"),
        ({"reminders": [{"type": "pigeon", "time_amount": 1, "time_unit": "day"}]}, "reminders"),
        ({"reminders": [{"type": "email", "time_amount": 0, "time_unit": "day"}]}, "reminders"),
        ({"employee_id": "jordan"}, "employee_id"),
        ({"timezone": "Europe/Paris; DROP"}, "timezone"),
    ],
)
def test_trigger_refuses_bad_values(serialized_dag, overrides: dict[str, Any], param: str) -> None:
    """The check Airflow's create_dagrun makes on conf, for the UI's and the REST API's triggers alike."""
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}:"):
        serialized_dag.params.deep_merge({**GOOD_CONF, **overrides}).validate()


def test_good_values_pass_validation(serialized_dag) -> None:
    assert serialized_dag.params.deep_merge(GOOD_CONF).validate()["due_datetime"] == GOOD_CONF["due_datetime"]


def test_trigger_without_a_required_value_creates_no_run(dag_bag) -> None:
    conf = {key: value for key, value in GOOD_CONF.items() if key != "contact_email"}
    with pytest.raises(ParamValidationError, match="contact_email"):
        dag_bag.get_dag(DAG_ID).test(run_conf=conf)
