"""Property-based requests generated from the vendored OpenAPI document, sent to the running emulator.

Three runs over `POST /api/activities/scheduled-activity`, more than 500 requests in all:
- bodies that fit the document (almost all refer to records that do not exist, so mostly 400s);
- bodies that break the document (the negative mode);
- bodies that fit a copy of the document narrowed to the seed's records, so that many are created.
No answer may be a 5xx, and every 201 body must parse with the provider's read model.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core import NotSet

import airflow_provider_kizen
from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.emulator.testing import EmulatorHandle
from airflow_provider_kizen.models.scheduled_activity import ScheduledActivity

PATH = "/api/activities/scheduled-activity"
DOCUMENT = Path(airflow_provider_kizen.__file__).parent / "schemas" / "scheduled-activity.openapi.json"
MIN_REQUESTS = 500


def _seed_narrowed(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every reference narrowed to records the seed has (and dates to real ones)."""
    narrowed = copy.deepcopy(document)
    schemas = narrowed["components"]["schemas"]
    write = schemas["ScheduledActivityV2WriteRequest"]
    properties = write["properties"]
    properties["activity_object_name"] = {"enum": [t["api_name"] for t in seed.ACTIVITY_TYPES]}
    properties["activity_object_id"] = {"enum": [t["id"] for t in seed.ACTIVITY_TYPES]}
    properties["employee_id"] = {"enum": [None, *(e["id"] for e in seed.EMPLOYEES)]}
    properties["role_id"] = {"enum": [None, *(r["id"] for r in seed.ROLES)]}
    properties["mentions"] = {"type": "array", "items": {"enum": [e["id"] for e in seed.EMPLOYEES]}}
    properties["due_datetime"] = {"enum": ["2026-12-01T10:00:00Z", "2027-01-15T08:30:00+01:00", "2026-12-24"]}
    properties["original_due_datetime"] = {"enum": ["2026-11-30T10:00:00Z"]}
    write["required"] = ["due_datetime"]
    schemas["_AssociatedEntityWriteRequest"] = {
        "enum": [
            {"custom_object": {"name": "client_client"}, "entity": {"name": email}}
            for email in seed.CONTACT_EMAILS
        ]
        + [
            {"custom_object": {"id": seed.COMPANIES_OBJECT["id"]}, "entity": {"id": c["id"]}}
            for c in seed.COMPANIES
        ]
    }
    return narrowed


def _run(
    document: dict[str, Any], mode: GenerationMode, examples: int, api: httpx.Client, statuses: list[int]
) -> None:
    operation = schemathesis.openapi.from_dict(document)[PATH]["POST"]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def send(case: Any) -> None:
        # The generated auth header is replaced by the emulator's three headers (the client's).
        if isinstance(case.body, NotSet):
            content = b""
        elif isinstance(case.body, bytes):  # the negative mode also sends bodies that are not JSON
            content = case.body
        else:
            content = json.dumps(case.body).encode()
        response = api.post(
            PATH, params=case.query, headers={"Content-Type": "application/json"}, content=content
        )
        statuses.append(response.status_code)
        assert response.status_code < 500, f"{response.status_code} for {case.body!r}: {response.text[:500]}"
        assert response.headers["x-request-id"]
        if response.status_code == 201:
            ScheduledActivity.model_validate(response.json())
        else:
            assert response.status_code == 400, (
                f"{response.status_code} for {case.body!r}: {response.text[:500]}"
            )

    send()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return loaded


def test_generated_requests_get_no_5xx_and_every_201_parses(
    api: httpx.Client, kizen_emulator: EmulatorHandle, document: dict[str, Any]
) -> None:
    statuses: list[int] = []

    _run(document, GenerationMode.POSITIVE, 200, api, statuses)
    _run(document, GenerationMode.NEGATIVE, 150, api, statuses)
    _run(_seed_narrowed(document), GenerationMode.POSITIVE, 200, api, statuses)

    assert len(statuses) >= MIN_REQUESTS
    created = statuses.count(201)
    assert created > 50
    assert len(kizen_emulator.control.activities()) == created
