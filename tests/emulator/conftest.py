"""Fixtures for the emulator's own tests: an httpx client signed in to the session's emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_kizen.emulator.testing import EmulatorHandle

SCHEDULED = "/api/activities/scheduled-activity"


@pytest.fixture
def api(kizen_emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    """A sync client carrying the three auth headers, on a freshly reset emulator."""
    with httpx.Client(base_url=kizen_emulator.base_url, headers=kizen_emulator.headers, timeout=10) as client:
        yield client


@pytest.fixture
def create_activity(api: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Create a follow-up call due on 1 December 2026 (keyword arguments override fields)."""

    def create(**fields: Any) -> dict[str, Any]:
        body = {"activity_object_name": "follow_up_call", "due_datetime": "2026-12-01T10:00:00Z", **fields}
        response = api.post(SCHEDULED, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return create
