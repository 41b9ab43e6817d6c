"""Fault injection over real HTTP: latency, 429, 5xx, commit-then-drop and the concurrency cap."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_kizen.emulator.testing import EmulatorHandle

SCHEDULED = "/api/activities/scheduled-activity"
BODY = {"activity_object_name": "follow_up_call", "due_datetime": "2026-12-01T10:00:00Z"}


def test_commit_then_drop_stores_the_activity_and_closes_the_connection_without_a_response(
    api: httpx.Client, kizen_emulator: EmulatorHandle
) -> None:
    kizen_emulator.control.set_faults(path=SCHEDULED, rate_commit_then_drop=1.0)

    with pytest.raises(httpx.RemoteProtocolError):
        api.post(SCHEDULED, json=BODY)

    [stored] = kizen_emulator.control.activities()
    assert stored["activity_object"]["api_name"] == "follow_up_call"
    [logged] = kizen_emulator.control.requests(SCHEDULED)
    assert logged["fault"] == "commit_then_drop"
    assert logged["status"] is None
    assert logged["body"] == BODY
