"""ScheduleActivityOperator end to end: real dag.test() runs against the emulator over loopback."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from typing import Any

from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.utils.state import TaskInstanceState
from exactly_once import FAULTS, audit, hard_batch

ACTIVITIES_PATH = "/api/activities/scheduled-activity"


def pull(ti: Any, key: str = "return_value") -> Any:
    return ti.xcom_pull(task_ids=ti.task_id, key=key, map_indexes=ti.map_index)


def creates(control: Any) -> list[dict[str, Any]]:
    return [entry for entry in control.requests(ACTIVITIES_PATH) if entry["method"] == "POST"]


def test_one_payload_returns_a_list_of_one_result(run_test_dag, kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    ti = run_test_dag("operator_one")["schedule_call"]

    assert ti.state == TaskInstanceState.SUCCESS
    [stored] = kizen_emulator.control.activities()
    [result] = pull(ti)
    assert (result["index"], result["status"], result["activity_id"]) == (0, "created", stored["id"])
    # One payload keeps the whole activity as Kizen returned it.
    activity = result["activity"]
    assert activity["id"] == stored["id"]
    assert activity["activity_object"]["api_name"] == "follow_up_call"
    assert activity["associated_entities"][0]["entity"]["email"] == "ada.lovelace@example.com"
    assert pull(ti, "activity_ids") == [stored["id"]]
    assert pull(ti, "failures") == []
    rendered = RenderedTaskInstanceFields.get_templated_fields(ti)
    assert rendered["payload"]["note"] == "Renewal call"
    assert kizen_emulator.api_key not in str(rendered)


def test_templated_payloads_dict_and_json_text(run_test_dag, kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    tis = run_test_dag("operator_templated", contact="alan.turing@example.com", rows=3)

    [from_dict_result] = pull(tis["from_dict"])
    from_dict = from_dict_result["activity"]
    assert from_dict["note"].startswith("Check in with alan.turing@example.com (run ")
    assert from_dict["associated_entities"][0]["entity"]["email"] == "alan.turing@example.com"
    results = pull(tis["from_json_text"])
    assert [result["record_key"] for result in results] == ["order-0", "order-1", "order-2"]
    assert {result["status"] for result in results} == {"created"}
    assert len(kizen_emulator.control.activities()) == 4
    # The record key is metadata: Kizen never saw it.
    assert all("row_id" not in entry["body"] for entry in creates(kizen_emulator.control))


def test_render_template_as_native_obj(run_test_dag, kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    results = pull(run_test_dag("operator_native", rows=2)["schedule_native"])

    assert [(r["index"], r["record_key"], r["status"]) for r in results] == [
        (0, "order-0", "created"),
        (1, "order-1", "created"),
    ]
    assert sorted(r["activity_id"] for r in results) == sorted(
        a["id"] for a in kizen_emulator.control.activities()
    )


def test_a_list_of_1000_from_upstream_xcom(run_test_dag, kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    tis = run_test_dag("operator_xcom", rows=1000)

    results = pull(tis["schedule_followups"])
    ids = pull(tis["schedule_followups"], "activity_ids")
    stored = kizen_emulator.control.activities()
    assert len(results) == len(ids) == len(stored) == 1000
    assert [r["index"] for r in results] == list(range(1000))
    assert [r["record_key"] for r in results] == [f"order-{n}" for n in range(1000)]
    assert ids == [r["activity_id"] for r in results]
    assert set(ids) == {a["id"] for a in stored}
    # Input order is kept even though creates complete out of order.
    note_of = {activity["id"]: activity["note"] for activity in stored}
    assert [note_of[r["activity_id"]] for r in results] == [f"Follow up on order {n}" for n in range(1000)]
    # A list's results summarise each activity; the activity type is one shared object.
    assert set(results[0]["activity"]) == {"id", "activity_object", "due_datetime", "completed_at"}
    assert results[0]["activity"]["activity_object"]["api_name"] == "follow_up_call"
    assert pull(tis["count_scheduled"]) == 1000


def test_mapped_per_record_and_per_chunk(run_test_dag, kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    tis = run_test_dag("operator_mapped", rows=3, chunk_size=2)

    per_record = sorted(tis["per_record"], key=lambda ti: ti.map_index)
    assert [pull(ti)[0]["activity"]["note"] for ti in per_record] == [
        f"Review proposal {n}" for n in range(3)
    ]
    per_chunk = sorted(tis["per_chunk"], key=lambda ti: ti.map_index)
    assert [[r["record_key"] for r in pull(ti)] for ti in per_chunk] == [
        ["mapped-100", "mapped-101"],
        ["mapped-102"],
    ]
    assert len(kizen_emulator.control.activities()) == 6


def test_invalid_records_in_both_modes(run_test_dag, kizen_emulator, kizen_connection) -> None:  # type: ignore[no-untyped-def]
    tis = run_test_dag("operator_invalid")

    refused = tis["refuse_batch"]
    assert refused.state == TaskInstanceState.FAILED
    failures = pull(refused, "failures")
    assert [(f["index"], f["record_key"], f["status"]) for f in failures] == [
        (1, "bad-1", "invalid"),
        (2, failures[1]["record_key"], "invalid"),
    ]
    assert failures[0]["field_errors"] == {
        "due_datetime": ["Field required"],
        "notes": ["Extra inputs are not permitted"],
    }
    assert failures[0]["error"].startswith("record 1 (key bad-1): due_datetime: Field required")
    assert "has no timezone" in failures[1]["field_errors"]["due_datetime"][0]
    assert "row_id" in failures[1]["field_errors"]

    skipped = tis["skip_invalid"]
    assert skipped.state == TaskInstanceState.SUCCESS
    results = pull(skipped)
    assert [r["status"] for r in results] == ["created", "invalid", "invalid", "created"]
    assert pull(skipped, "failures") == failures
    planned = pull(tis["plan_only"])
    assert [(r["index"], r["record_key"], r["status"]) for r in planned] == [
        (0, "ok-1", "would_create"),
        (1, "bad-1", "invalid"),
        (2, failures[1]["record_key"], "invalid"),
        (3, "ok-2", "would_create"),
    ]
    assert [r["payload"] for r in planned if r["status"] == "would_create"] == [
        {"activity_object_name": "follow_up_call", "due_datetime": "2026-05-04T10:00:00Z", "note": "Valid"},
        {
            "activity_object_name": "follow_up_call",
            "due_datetime": "2026-05-04T11:00:00Z",
            "note": "Valid too",
        },
    ]
    # A plan-only run pushes the same XComs as a real one, so downstream XComArgs resolve.
    assert pull(tis["plan_only"], "activity_ids") == []
    assert pull(tis["plan_only"], "failures") == failures
    assert pull(refused, "activity_ids") == []
    # Only the skip_invalid task sent anything.
    assert len(creates(kizen_emulator.control)) == 2
    assert len(kizen_emulator.control.activities()) == 2


def test_2000_under_faults_end_with_exactly_2000(run_test_dag, kizen_emulator, quick_retries, capfd) -> None:  # type: ignore[no-untyped-def]
    # The default profile, through a whole DAG; test_exactly_once_profiles runs the other profiles.
    kizen_emulator.control.set_faults(**FAULTS)

    ti = run_test_dag("operator_faults", rows=2000)["schedule_batch"]

    kizen_emulator.control.clear_faults()
    assert ti.state == TaskInstanceState.SUCCESS, pull(ti, "failures")
    results = pull(ti)
    records = hard_batch("faults", 2000)
    outcome = audit(records, results, kizen_emulator.control.activities())
    print(f"profile default: {outcome}")
    assert (outcome.created, outcome.duplicates, outcome.lost, outcome.unsettled) == (2000, 0, 0, 0), outcome
    assert {r["status"] for r in results} == {"created"}
    assert pull(ti, "activity_ids") == [r["activity_id"] for r in results]
    faults = Counter(entry.get("fault") for entry in creates(kizen_emulator.control))
    assert faults["commit_then_drop"] > 0, faults  # the reconciliation path really ran
    assert faults["500"] > 0, faults
    lookups = [e for e in kizen_emulator.control.requests(ACTIVITIES_PATH) if e["method"] == "GET"]
    assert lookups, "no reconciliation lookups were made"
    sent = {name for entry in lookups for name in entry["query"]}
    assert sent <= {"from_date", "to_date", "activity_name", "search", "page", "page_size"}, sent
    assert "Straßenbau Müller GmbH" in {entry["query"].get("search") for entry in lookups}
    log = capfd.readouterr().out
    assert "failed so far" in log  # progress lines
    assert "retrying in" in log  # the hook logged its 503/429 retries...
    assert kizen_emulator.api_key not in log  # ...without the key


def test_a_task_stopped_mid_batch_and_retried_creates_no_duplicates(
    run_test_dag, kizen_emulator, kizen_connection
) -> None:  # type: ignore[no-untyped-def]
    control = kizen_emulator.control
    control.set_faults(path=ACTIVITIES_PATH, latency_ms=10, rate_commit_then_drop=0.05, seed=3)
    previous_handler = signal.getsignal(signal.SIGTERM)

    def stop_the_worker_midway() -> None:
        # What a worker shutdown does: SIGTERM, on which Airflow calls the operator's on_kill().
        deadline = time.monotonic() + 60
        while len(control.activities()) < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop_the_worker_midway, daemon=True)
    killer.start()
    try:
        ti = run_test_dag("operator_retry", rows=600)["schedule_batch"]
    finally:
        killer.join(timeout=5)
        signal.signal(signal.SIGTERM, previous_handler)
        control.clear_faults()

    assert ti.state == TaskInstanceState.SUCCESS
    assert ti.try_number == 2
    stored = control.activities()
    notes = Counter(activity["note"] for activity in stored)
    assert len(stored) == 600
    assert set(notes.values()) == {1}
    statuses = Counter(r["status"] for r in pull(ti))
    # The retry found the first try's work (recorded, or looked up in the uncertain window).
    assert statuses["already_existed"] >= 200, statuses
    assert statuses["already_existed"] + statuses["created"] == 600


def test_many_invalid_records_keep_the_log_and_xcom_bounded(
    run_test_dag, kizen_emulator, kizen_connection, capfd
) -> None:  # type: ignore[no-untyped-def]
    tis = run_test_dag("operator_noise")
    log = capfd.readouterr().out

    refused = tis["many_invalid"]
    assert refused.state == TaskInstanceState.FAILED
    failures = pull(refused, "failures")
    assert len(failures) == 100  # of 5,000
    assert [f["record_key"] for f in failures] == [f"bad-{n}" for n in range(100)]
    assert pull(refused, "failure_count") == 5000
    assert len(json.dumps(failures)) < 64 * 1024
    invalid_lines = [line for line in log.splitlines() if "Invalid record " in line]
    assert len(invalid_lines) == 20
    assert "Invalid: 5000 records in all; the first 20 are above" in log
    assert "... and 4995 more (the first 100 in XCom 'failures'" in log

    small = tis["small_batch"]
    assert small.state == TaskInstanceState.SUCCESS
    for result in pull(small):
        line = f"record {result['index']} (key {result['record_key']}) → activity {result['activity_id']}"
        assert f"{line} (created), due {result['activity']['due_datetime']}" in log
    assert "3 created" in log
    assert "ada.lovelace@example.com" not in log
    assert "Private note" not in log
