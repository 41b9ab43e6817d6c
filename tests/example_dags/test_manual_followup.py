"""kizen_manual_followup: the trigger form's params schedule one activity; bad values are refused."""

from __future__ import annotations

import logging
from typing import Any

import pendulum
import pytest
from airflow.exceptions import ParamValidationError

from example_dags.kizen_sample_warehouse import JORDAN_ID

DAG_ID = "kizen_manual_followup"
# What the trigger form sends: the date-time picker adds a Z to the date and time it shows.
GOOD_CONF: dict[str, Any] = {
    "contact_email": "grace.hopper@example.com",
    "activity_type": "proposal_review",
    "due_datetime": "2026-12-01T10:30:00.000Z",
    "timezone": "Europe/Paris",
    "note": "Walk through the proposal.\nBring the pricing options.",
    "email_reminder": "1 day",
    "text_reminder": "15 minutes",
    "employee_id": JORDAN_ID,
}


@pytest.fixture
def serialized_dag(dag_bag: Any) -> Any:
    """The DAG as the scheduler and API server see it: deserialized from its serialized form."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag_bag.get_dag(DAG_ID)))


def test_due_time_is_the_forms_time_in_the_chosen_timezone(
    kizen_emulator, run_dag, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        result = run_dag(DAG_ID, GOOD_CONF)

    assert result.state == "success", result.task_states
    (activity,) = kizen_emulator.control.activities()
    assert activity["activity_object"]["api_name"] == "proposal_review"
    # 10:30 as shown, in Paris: 09:30 UTC, whatever the picker's Z said.
    assert pendulum.parse(activity["due_datetime"]) == pendulum.datetime(2026, 12, 1, 9, 30, tz="UTC")
    assert "Due 2026-12-01 10:30:00 in Europe/Paris, which is 2026-12-01 09:30:00+00:00 UTC" in caplog.text
    assert activity["note"] == GOOD_CONF["note"]
    assert activity["employee"]["id"] == JORDAN_ID
    assert activity["associated_entities"][0]["entity"]["email"] == "grace.hopper@example.com"
    assert [(n["type"], n["time_amount"], n["time_unit"]) for n in activity["notifications"]] == [
        ("email", 1, "day"),
        ("text", 15, "minute"),
    ]


def test_no_reminders_and_a_due_time_without_z(kizen_emulator, run_dag) -> None:
    """The REST API may send the date and time without the Z; a summer date in New York is UTC-4."""
    conf = {
        **GOOD_CONF,
        "due_datetime": "2027-07-01T09:00",
        "timezone": "America/New_York",
        "email_reminder": "none",
        "text_reminder": "none",
        "employee_id": None,
    }

    result = run_dag(DAG_ID, conf)

    assert result.state == "success", result.task_states
    (activity,) = kizen_emulator.control.activities()
    assert pendulum.parse(activity["due_datetime"]) == pendulum.datetime(2027, 7, 1, 13, 0, tz="UTC")
    assert activity["notifications"] == []


def test_unknown_timezone_fails_naming_it(kizen_emulator, run_dag) -> None:
    result = run_dag(DAG_ID, {**GOOD_CONF, "timezone": "Mars/Olympus_Mons"})

    assert result.task_states["build_payload"] == ["failed"]
    assert kizen_emulator.control.activities() == []


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"contact_email": "grace.hopper"}, "contact_email"),
        ({"contact_email": "grace hopper@example.com"}, "contact_email"),
        ({"activity_type": "lunch"}, "activity_type"),
        ({"due_datetime": "next tuesday"}, "due_datetime"),
        # An offset other than the picker's Z would contradict the timezone.
        ({"due_datetime": "2026-12-01T10:30:00+05:00"}, "due_datetime"),
        ({"note": ""}, "note"),
        ({"email_reminder": "a fortnight"}, "email_reminder"),
        ({"text_reminder": ""}, "text_reminder"),
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


def test_every_field_explains_itself(serialized_dag) -> None:
    """The form shows each param's title and description; a person needs both to fill it in."""
    for name, param in serialized_dag.params.items():
        assert param.schema.get("title"), name
        assert param.description or param.schema.get("values_display"), name


def test_trigger_without_a_required_value_creates_no_run(dag_bag) -> None:
    conf = {key: value for key, value in GOOD_CONF.items() if key != "contact_email"}
    with pytest.raises(ParamValidationError, match="contact_email"):
        dag_bag.get_dag(DAG_ID).test(run_conf=conf)
