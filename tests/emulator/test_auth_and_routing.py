"""Authentication, URL resolution and request ids, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_kizen.emulator.testing import EmulatorHandle

SCHEDULED = "/api/activities/scheduled-activity"


@pytest.mark.parametrize("missing", ["X-API-KEY", "X-BUSINESS-ID", "X-USER-ID"])
def test_a_missing_header_answers_401(kizen_emulator: EmulatorHandle, missing: str) -> None:
    headers = {name: value for name, value in kizen_emulator.headers.items() if name != missing}

    response = httpx.get(kizen_emulator.base_url + SCHEDULED, headers=headers)

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    assert response.headers["x-request-id"]


def test_a_wrong_key_answers_401(kizen_emulator: EmulatorHandle) -> None:
    response = httpx.get(
        kizen_emulator.base_url + SCHEDULED, headers={**kizen_emulator.headers, "X-API-KEY": "nope"}
    )

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key.", "code": "authentication_failed"}


def test_an_unknown_business_answers_403(kizen_emulator: EmulatorHandle) -> None:
    headers = {**kizen_emulator.headers, "X-BUSINESS-ID": "00000000-0000-4000-8000-000000000000"}

    response = httpx.get(kizen_emulator.base_url + SCHEDULED, headers=headers)

    assert response.status_code == 403
    assert response.json()["detail"] == "You do not have permission to perform this action."


@pytest.mark.parametrize("path", [SCHEDULED + "/", "/api/custom-objects/", "/api/no-such-thing"])
def test_a_trailing_slash_or_unknown_url_answers_an_html_404(api: httpx.Client, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in response.text
    assert response.headers["x-request-id"]


def test_a_wrong_method_answers_drf_405(api: httpx.Client) -> None:
    response = api.put(SCHEDULED, json={})

    assert response.status_code == 405
    assert response.json()["detail"] == 'Method "PUT" not allowed.'


def test_every_response_has_its_own_request_id_and_the_log_records_it(
    api: httpx.Client, kizen_emulator: EmulatorHandle
) -> None:
    first = api.get(SCHEDULED)
    second = api.post(SCHEDULED, json={})

    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    log = kizen_emulator.control.requests()
    assert [(entry["method"], entry["status"], entry["request_id"]) for entry in log] == [
        ("GET", 200, first.headers["x-request-id"]),
        ("POST", 400, second.headers["x-request-id"]),
    ]


def test_the_api_key_is_not_in_the_handle_repr(kizen_emulator: EmulatorHandle) -> None:
    assert kizen_emulator.api_key not in repr(kizen_emulator)


def test_the_request_log_filters_by_path_prefix_and_parses_queries_and_bodies(
    api: httpx.Client, kizen_emulator: EmulatorHandle
) -> None:
    api.get("/api/custom-objects", params={"page_size": "1"})
    api.post(SCHEDULED, json={"note": "x"})
    api.post(SCHEDULED, content=b"not json", headers={"Content-Type": "application/json"})

    assert [entry["path"] for entry in kizen_emulator.control.requests()] == [
        "/api/custom-objects",
        SCHEDULED,
        SCHEDULED,
    ]
    first, second = kizen_emulator.control.requests(SCHEDULED)
    assert first["body"] == {"note": "x"}
    assert second["body"] is None
    [lookup] = kizen_emulator.control.requests("/api/custom")
    assert lookup["query"] == {"page_size": "1"}
    assert lookup["fault"] is None
