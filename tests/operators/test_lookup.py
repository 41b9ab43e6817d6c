"""Controls: which activities the batch created a lookup's query had to find."""

from __future__ import annotations

from time import monotonic
from typing import Any

from airflow_provider_kizen.models.scheduled_activity import ScheduledActivityWrite
from airflow_provider_kizen.operators.lookup import STEPS, Claims, Controls, Step
from airflow_provider_kizen.operators.reconciliation import NaturalKey

INSTANT_SEARCH, INSTANT, DAYS_SEARCH, DAYS = STEPS[:4]


def key(
    note: str = "Call about the renewal",
    due: str = "2026-03-02T09:00:00Z",
    entity: str = "ada@example.com",
    **fields: Any,
) -> NaturalKey:
    payload = {
        "activity_object_name": "follow_up_call",
        "due_datetime": due,
        "note": note,
        "associated_entities": [{"custom_object": {"name": "client_client"}, "entity": {"name": entity}}],
        **fields,
    }
    return NaturalKey.from_request_json(ScheduledActivityWrite.model_validate(payload).to_request_json())


def eligible(controls: Controls, record: NaturalKey, step: Step) -> list[str]:
    return list(controls.eligible(record, step, known_before=monotonic()))


def test_a_control_counts_only_for_queries_sent_after_the_batch_learned_of_it() -> None:
    controls = Controls()
    controls.add(key(note="first"), "a1")
    between = monotonic()
    controls.add(key(note="second"), "a2")
    assert list(controls.eligible(key(), DAYS, known_before=between)) == ["a1"]
    assert eligible(controls, key(), DAYS) == ["a1", "a2"]


def test_controls_are_grouped_by_type_assignee_and_due_day() -> None:
    controls = Controls()
    controls.add(key(due="2026-03-02T23:30:00Z"), "same-day")
    controls.add(key(due="2026-03-03T09:00:00Z"), "next-day")
    controls.add(key(activity_object_name="meeting"), "other-type")
    assert controls.has_any(key())
    assert not controls.has_any(key(due="2026-03-04T09:00:00Z"))
    assert eligible(controls, key(), DAYS) == ["same-day"]


def test_an_instant_query_needs_the_same_instant_in_any_offset() -> None:
    controls = Controls()
    controls.add(key(due="2026-03-02T10:00:00+01:00"), "same-instant")
    controls.add(key(due="2026-03-02T09:00:00.000001Z"), "a-microsecond-later")
    assert eligible(controls, key(due="2026-03-02T09:00:00Z"), INSTANT) == ["same-instant"]
    assert eligible(controls, key(due="2026-03-02T09:00:00Z"), DAYS) == [
        "same-instant",
        "a-microsecond-later",
    ]


def test_a_search_query_needs_the_term_in_the_same_places() -> None:
    controls = Controls()
    # The record's term (its entity name) is in its entity only; a control counts when the same holds.
    controls.add(key(entity="ADA@example.com"), "entity-only")
    controls.add(key(entity="grace@example.com"), "elsewhere")
    controls.add(key(entity="ada@example.com", note="Ask ada@example.com back"), "entity-and-note")
    controls.add(key(entity="grace@example.com", note="Ada@Example.com called"), "note-only")
    assert eligible(controls, key(), INSTANT_SEARCH) == ["entity-only"]
    assert eligible(controls, key(), DAYS_SEARCH) == ["entity-only"]
    record = key(note="Tell ada@example.com")
    assert eligible(controls, record, DAYS_SEARCH) == ["entity-and-note"]


def test_a_term_is_found_within_one_note_in_any_script() -> None:
    controls = Controls()
    # Casefolded, "ß" is "ss"; each note is searched on its own, never across the next one.
    for note, activity_id in [
        ("Ruf STRASSE@example.com an", "folded"),
        ("Grüße an strasse@exa", "ends-here"),
        ("mple.com morgen", "starts-here"),
        ("日本 strasse@example.com 語", "wide-script"),
    ]:
        controls.add(key(entity="Strasse@example.com", note=note), activity_id)
    record = key(entity="straße@example.com", note="Ruf straße@example.com an")
    assert eligible(controls, record, DAYS_SEARCH) == ["folded", "wide-script"]
    assert eligible(controls, key(entity="straße@example.com"), DAYS_SEARCH) == ["ends-here", "starts-here"]


def test_claimed_are_the_controls_and_the_others_given() -> None:
    controls = Controls()
    claims = Claims(controls, ["recorded-by-an-earlier-try"])
    controls.add(key(), "created")
    controls.add(key(due="2026-03-05T09:00:00Z"), "created-another-day")
    claims.add("updated")
    for activity_id in ("created", "created-another-day", "recorded-by-an-earlier-try", "updated"):
        assert activity_id in claims
    assert "someone-elses" not in claims
