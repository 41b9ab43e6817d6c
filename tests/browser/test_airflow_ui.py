"""What a person does in the Airflow UI: add a Kizen connection, trigger a follow-up from the form.

Each test clicks and types as a person would, then checks the outcome where it lands: the connection
through the REST API and the CLI, the follow-up in the Kizen emulator.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pendulum
import pytest
from live.airflow_process import LiveAirflow, RunWatch

from airflow_provider_kizen.emulator.testing import EmulatorHandle

pytestmark = [pytest.mark.browser, pytest.mark.live_airflow]

MANUAL_DAG = "kizen_manual_followup"
RUN_TIMEOUT_SECONDS = 150


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def form_row(page: Any, scope: Any, label: str) -> Any:
    """A form field's row, found by the text of its label.

    Airflow's forms do not tie every label to its input (`for` and `id` differ for the fields built
    from a schema), so the row is found instead, and the input within it.
    """
    rows = scope.locator("[data-scope=field][data-part=root]")
    return rows.filter(has=page.locator("label", has_text=re.compile(f"^{re.escape(label)}")))


class TriggerForm:
    """The manual follow-up DAG's trigger dialog, filled in field by field."""

    def __init__(self, page: Any, airflow: LiveAirflow) -> None:
        self.page = page
        page.goto(f"{airflow.api_url}/dags/{MANUAL_DAG}")
        page.get_by_role("button", name="Trigger").first.click()
        self.dialog = page.get_by_role("dialog")
        self.form = self.dialog.get_by_test_id("config-form")

    def open_section(self, title: str) -> None:
        trigger = self.dialog.locator("button[data-part=item-trigger]", has_text=title)
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()

    def field(self, label: str) -> Any:
        """A param's row in the form, found by the title on its label."""
        return form_row(self.page, self.form, label)

    def choose(self, label: str, option: str) -> None:
        self.field(label).get_by_role("combobox").click()
        self.page.get_by_role("option", name=option, exact=True).click()

    def pick_due(self, due: pendulum.DateTime) -> None:
        """Type the date and time into the picker's two boxes, as shown on the screen."""
        self.field("Due").get_by_test_id("datetime-input").click()
        picker = self.page.locator("[data-scope=popover][data-part=content][data-state=open]")
        picker.get_by_placeholder("YYYY/MM/DD").fill(due.format("YYYY/MM/DD"))
        picker.get_by_placeholder("HH:mm").fill(due.format("HH:mm"))
        self.page.keyboard.press("Escape")
        expect(self.field("Due").get_by_test_id("datetime-input")).to_contain_text(due.format("HH:mm"))

    def fill_followup(self, *, email: str, due: pendulum.DateTime, note: str) -> None:
        self.open_section("Follow-up")
        self.field("Contact email").locator("input").fill(email)
        self.choose("Activity type", "Proposal review")
        self.pick_due(due)
        self.field("Timezone").locator("input").fill(due.timezone_name)
        self.field("Note").locator("textarea").fill(note)
        self.open_section("Assignment and reminders")
        self.choose("Email reminder", "No reminder")
        expect(self.field("Text reminder")).to_contain_text("No reminder")

    def submit(self) -> None:
        self.dialog.get_by_test_id("trigger-dag-submit").click()


def _latest_run_id(airflow: LiveAirflow) -> str | None:
    with airflow.client() as api:
        runs = api.get(
            f"/api/v2/dags/{MANUAL_DAG}/dagRuns", params={"order_by": "-run_after", "limit": 1}
        ).raise_for_status()
    listed = runs.json()["dag_runs"]
    return str(listed[0]["dag_run_id"]) if listed else None


def test_kizen_connection_form_saves_a_working_connection(
    page: Any, airflow: LiveAirflow, emulator: EmulatorHandle
) -> None:
    conn_id = "kizen_from_the_form"
    page.goto(f"{airflow.api_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill(conn_id)
    dialog.get_by_role("combobox").click()
    page.keyboard.type("Kizen")
    page.get_by_role("option", name="Kizen", exact=True).click()
    # The provider's own labels and hints replace Airflow's generic ones.
    expect(dialog.get_by_label("Base URL")).to_have_attribute("placeholder", "https://app.go.kizen.com")
    dialog.get_by_label("Base URL").fill(emulator.base_url)
    dialog.get_by_label("User ID").fill(emulator.user_id)
    dialog.get_by_label("API key").fill(emulator.api_key)
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    form_row(page, dialog, "Business ID").locator("input").fill(emulator.business_id)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()

    with airflow.client() as api:
        saved = api.get(f"/api/v2/connections/{conn_id}").raise_for_status().json()
    assert saved["conn_type"] == "kizen"
    assert (saved["host"], saved["login"]) == (emulator.base_url, emulator.user_id)
    assert json.loads(saved["extra"])["business_id"] == emulator.business_id
    # The documented way to test it while the UI's Test button sends port 0 (Airflow <= 3.3.2).
    tested = airflow.cli("connections", "test", conn_id)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Connection success!" in tested.stdout, tested.stdout + tested.stderr


def test_trigger_form_schedules_the_followup_at_the_time_shown(
    page: Any, airflow: LiveAirflow, emulator: EmulatorHandle
) -> None:
    # 10:30 in Paris, ten days from now; the UI's picker shows (and sends) UTC fields.
    due = pendulum.now("Europe/Paris").add(days=10).replace(hour=10, minute=30, second=0, microsecond=0)
    note = "Walk through the proposal.\nBring the pricing options."
    form = TriggerForm(page, airflow)
    runs_before = airflow.run_count(MANUAL_DAG)

    form.fill_followup(email="grace.hopper@example.com", due=due, note=note)
    form.submit()

    expect(form.dialog).to_be_hidden()
    assert airflow.run_count(MANUAL_DAG) == runs_before + 1
    run_id = _latest_run_id(airflow)
    assert run_id is not None
    run = RunWatch(MANUAL_DAG, run_id)
    airflow.watch([run], lambda: run.finished, what="the run to finish", timeout=RUN_TIMEOUT_SECONDS)
    assert run.state == "success", run.describe()
    (activity,) = [a for a in emulator.control.activities() if a["note"] == note]
    assert activity["activity_object"]["api_name"] == "proposal_review"
    assert activity["associated_entities"][0]["entity"]["email"] == "grace.hopper@example.com"
    # The time the form showed, in Paris: not the same wall-clock time in UTC.
    assert pendulum.parse(activity["due_datetime"]) == due
    assert pendulum.parse(activity["due_datetime"]).in_tz("UTC").hour != 10
    assert activity["notifications"] == []


def test_a_bad_email_is_refused_with_a_message_naming_the_field(page: Any, airflow: LiveAirflow) -> None:
    due = pendulum.now("America/New_York").add(days=3).replace(hour=9, minute=0, second=0, microsecond=0)
    form = TriggerForm(page, airflow)
    runs_before = airflow.run_count(MANUAL_DAG)

    form.fill_followup(email="grace.hopper", due=due, note="Check in after the workshop.")
    form.submit()

    # Airflow 3.3 checks only required fields in the browser; the server's refusal shows in the dialog.
    message = form.dialog.get_by_text("Invalid input for param contact_email")
    expect(message).to_be_visible()
    expect(message).to_contain_text("'grace.hopper' is not a 'email'")
    expect(form.dialog).to_be_visible()
    assert airflow.run_count(MANUAL_DAG) == runs_before
