"""Schedule one Kizen follow-up from Airflow's trigger form.

Trigger the DAG from the UI ("Trigger" shows a form built from the params) or through the REST API
with a `conf`. Airflow checks the values against each param's JSON schema before it creates the run,
and the form checks the patterns before it submits, so a malformed email, an unknown activity type,
a due time that is not a date and time, or an empty note is refused with a message naming the field.

The due time means what the form shows: its date and time are read in the chosen timezone. (The
form's date-time picker sends them with a `Z`, which is ignored.)

1. `build_payload` turns the params into one Kizen payload and logs the due time, local and UTC.
2. `schedule_followup` schedules it with `ScheduleActivityOperator`.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator

log = logging.getLogger(__name__)

ACTIVITY_TYPES = {
    "follow_up_call": "Follow-up call",
    "onboarding_check_in": "Onboarding check-in",
    "proposal_review": "Proposal review",
}
# How long before the due time a reminder goes out: (amount, unit) in Kizen's terms.
REMINDER_TIMES = {"15 minutes": (15, "minute"), "1 hour": (1, "hour"), "1 day": (1, "day")}
REMINDER_CHOICES = {"none": "No reminder"} | {choice: f"{choice} before" for choice in REMINDER_TIMES}


def reminder_param(default: str, channel: str) -> Param:
    return Param(
        default,
        type="string",
        enum=list(REMINDER_CHOICES),
        values_display=REMINDER_CHOICES,
        title=f"{channel.capitalize()} reminder",
        description=f"When Kizen sends the assignee a reminder by {channel}.",
        section="Assignment and reminders",
    )


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
            # The form checks a pattern before it submits; `format` is checked only by the server.
            pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            title="Contact email",
            description="The Kizen contact the follow-up is about, e.g. grace.hopper@example.com.",
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
            pattern=r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?$",
            title="Due",
            description="Date and time in Timezone, e.g. 2026-12-01T10:30 (no UTC offset).",
            section="Follow-up",
        ),
        "timezone": Param(
            "UTC",
            type="string",
            pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$",
            title="Timezone",
            description="Where the due time is, as an IANA name such as Europe/Paris or America/New_York.",
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
        "email_reminder": reminder_param("1 hour", "email"),
        "text_reminder": reminder_param("none", "text"),
        "employee_id": Param(
            None,
            type=["null", "string"],
            format="uuid",
            title="Assign to employee",
            description="A Kizen team member id. Empty: Kizen assigns it to the API user.",
            section="Assignment and reminders",
        ),
    },
) as dag:

    @task
    def build_payload(params: dict[str, Any]) -> dict[str, Any]:
        """The payload, due at the form's date and time in the chosen timezone."""
        try:
            zone = pendulum.timezone(params["timezone"])
        except ValueError as error:
            raise ValueError(f"timezone {params['timezone']!r} is not an IANA timezone name") from error
        # The wall-clock fields as shown, whatever offset the picker added.
        shown = pendulum.parse(params["due_datetime"])
        if not isinstance(shown, pendulum.DateTime):
            raise ValueError(f"due_datetime {params['due_datetime']!r} is not a date and time")
        due = pendulum.datetime(*shown.timetuple()[:6], tz=zone)
        log.info("Due %s in %s, which is %s UTC", due.to_datetime_string(), zone.name, due.in_tz("UTC"))
        payload: dict[str, Any] = {
            "activity_object_name": params["activity_type"],
            "due_datetime": due.isoformat(),
            "note": params["note"],
            # Kizen's contacts are records of `client_client`, which may be named by email.
            "associated_entities": [
                {"custom_object": {"name": "client_client"}, "entity": {"name": params["contact_email"]}}
            ],
            "notifications": [
                {"type": channel, "time_amount": amount, "time_unit": unit}
                for channel in ("email", "text")
                if (choice := params[f"{channel}_reminder"]) != "none"
                for amount, unit in [REMINDER_TIMES[choice]]
            ],
        }
        if params["employee_id"]:
            payload["employee_id"] = params["employee_id"]
        return payload

    ScheduleActivityOperator(task_id="schedule_followup", payload=build_payload())
