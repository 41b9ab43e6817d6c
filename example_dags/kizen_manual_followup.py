"""Schedule one Kizen follow-up from Airflow's trigger form.

Trigger the DAG from the UI ("Trigger" shows a form built from the params) or through the REST API
with a `conf`. Airflow checks the values against each param's JSON schema before it creates the run,
so a malformed email, an unknown activity type, a due time that is not an ISO date-time, an empty
note or a malformed reminder is refused with a message naming the param.

1. `build_payload` turns the params into one Kizen payload. A due time without a UTC offset is read
   in the `timezone` param.
2. `schedule_followup` schedules it with `ScheduleActivityOperator`; the created activity is its XCom.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator
from example_dags.kizen_example_support import contact_entity

# JSON schema's "date-time" format is only checked when the optional rfc3339-validator package is
# installed, so this pattern is what refuses bad values everywhere. The offset is optional because the
# UI's date-time picker fills in a local time; `timezone` says where that is.
ISO_DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$"

ACTIVITY_TYPES = {
    "follow_up_call": "Follow-up call",
    "onboarding_check_in": "Onboarding check-in",
    "proposal_review": "Proposal review",
}

REMINDER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "time_amount", "time_unit"],
    "properties": {
        "type": {"type": "string", "enum": ["email", "text"]},
        "time_amount": {"type": "integer", "minimum": 1, "maximum": 999},
        "time_unit": {"type": "string", "enum": ["minute", "hour", "day"]},
    },
}

with DAG(
    dag_id="kizen_manual_followup",
    description="Schedule one Kizen follow-up from the trigger form",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    doc_md=__doc__,
    tags=["kizen", "example"],
    params={
        "contact_email": Param(
            type="string",
            format="email",
            title="Contact email",
            description="The Kizen contact the follow-up is about.",
            section="Follow-up",
        ),
        "activity_type": Param(
            "follow_up_call",
            type="string",
            enum=list(ACTIVITY_TYPES),
            values_display=ACTIVITY_TYPES,
            title="Activity type",
            section="Follow-up",
        ),
        "due_datetime": Param(
            type="string",
            format="date-time",
            pattern=ISO_DATETIME_PATTERN,
            title="Due",
            description="ISO 8601, e.g. 2026-12-01T10:00:00+01:00. Without an offset it is read in Timezone.",
            section="Follow-up",
        ),
        "timezone": Param(
            "UTC",
            type="string",
            pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$",
            title="Timezone",
            description="An IANA timezone such as Europe/Paris, for a due time without an offset.",
            section="Follow-up",
        ),
        "note": Param(
            type="string",
            format="multiline",
            minLength=1,
            maxLength=10000,
            title="Note",
            description="What the follow-up is for. Several lines are fine.",
            section="Follow-up",
        ),
        "reminders": Param(
            [{"type": "email", "time_amount": 1, "time_unit": "hour"}],
            type="array",
            items=REMINDER_SCHEMA,
            maxItems=5,
            title="Reminders",
            description='Up to 5, e.g. [{"type": "text", "time_amount": 15, "time_unit": "minute"}].',
            section="Assignment and reminders",
        ),
        "employee_id": Param(
            None,
            type=["null", "string"],
            format="uuid",
            title="Assign to employee",
            description="A Kizen team member id. Leave empty to leave the assignment to Kizen.",
            section="Assignment and reminders",
        ),
    },
) as dag:

    @task
    def build_payload(**context: Any) -> dict[str, Any]:
        params = context["params"]
        try:
            due = pendulum.parse(params["due_datetime"], tz=params["timezone"])
        except Exception as error:
            raise ValueError(
                f"due_datetime {params['due_datetime']!r} in timezone {params['timezone']!r} "
                f"is not a valid date-time: {error}"
            ) from error
        if not isinstance(due, pendulum.DateTime):
            raise ValueError(f"due_datetime {params['due_datetime']!r} is not a date and time")
        payload: dict[str, Any] = {
            "activity_object_name": params["activity_type"],
            "due_datetime": due.isoformat(),
            "note": params["note"],
            "associated_entities": [contact_entity(params["contact_email"])],
            "notifications": params["reminders"],
        }
        if params["employee_id"]:
            payload["employee_id"] = params["employee_id"]
        return payload

    ScheduleActivityOperator(task_id="schedule_followup", payload=build_payload())
