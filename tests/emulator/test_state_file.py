"""`state_file`: a restarted emulator still has every activity, logged activity and setting."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from airflow_provider_kizen.emulator.testing import running_emulator

SCHEDULED = "/api/activities/scheduled-activity"
BODY = {"activity_object_name": "follow_up_call", "due_datetime": "2026-12-01T10:00:00Z"}


def test_a_restart_with_the_same_state_file_loses_nothing(tmp_path: Path) -> None:
    state_file = tmp_path / "kizen.sqlite3"
    with running_emulator(state_file=state_file) as first:
        client = httpx.Client(base_url=first.base_url, headers=first.headers)
        kept = client.post(SCHEDULED, json=BODY).json()
        completed = client.post(SCHEDULED, json=BODY).json()
        deleted = client.post(SCHEDULED, json=BODY).json()
        pending = client.post(SCHEDULED, json=BODY).json()
        client.patch(f"{SCHEDULED}/{kept['id']}/notes", json={"note": "kept"})
        first.control.complete(completed["id"])
        first.control.complete(pending["id"], after_seconds=0.5)
        pending_due = time.monotonic() + 0.5
        client.delete(f"{SCHEDULED}/{deleted['id']}")
        first.control.auto_complete(60)
        before = first.control.activities()
        client.close()

    with running_emulator(state_file=state_file) as second:
        client = httpx.Client(base_url=second.base_url, headers=second.headers)
        after = second.control.activities()
        assert [a["id"] for a in after] == [kept["id"], completed["id"], pending["id"]]
        assert after[:2] == before[:2]
        assert after[0]["note"] == "kept"
        logged_id = after[1]["logged_activity_id"]
        assert (
            client.get(f"/api/activities/logged/{logged_id}").json()["scheduled_activity_id"]
            == completed["id"]
        )
        # The pending completion and the auto-complete setting survived too.
        new = client.post(SCHEDULED, json=BODY).json()
        second.control.complete(new["id"])
        client.close()

    # The third start must come after the pending completion fell due, however fast the second ran.
    time.sleep(max(0.0, pending_due - time.monotonic()))
    with running_emulator(state_file=state_file) as third:
        by_id = {a["id"]: a for a in third.control.activities()}
        assert by_id[pending["id"]]["completed_at"] is not None
        assert by_id[new["id"]]["completed_at"] is not None


def test_reset_empties_the_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "kizen.sqlite3"
    with running_emulator(state_file=state_file) as first:
        httpx.post(first.base_url + SCHEDULED, json=BODY, headers=first.headers)
        first.control.reset()

    with running_emulator(state_file=state_file) as second:
        assert second.control.activities() == []


def test_a_seed_makes_generated_ids_reproducible() -> None:
    ids = []
    for _ in range(2):
        with running_emulator(seed=42) as emulator:
            ids.append(
                httpx.post(emulator.base_url + SCHEDULED, json=BODY, headers=emulator.headers).json()["id"]
            )

    assert ids[0] == ids[1]
