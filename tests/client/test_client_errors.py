from __future__ import annotations

import pytest

from airflow_provider_kizen.client.errors import (
    KizenAuthError,
    KizenError,
    KizenHTTPError,
    KizenNotFoundError,
    KizenRateLimitError,
    KizenServerError,
    KizenValidationError,
    http_error_class,
    parse_drf_error,
    unwatchable_message,
)


def test_renders_a_task_log_line():
    error = KizenValidationError(
        "due_datetime: This field is required.",
        status=400,
        method="POST",
        path="/api/activities/scheduled-activity",
        field_errors={"due_datetime": ["This field is required."]},
        request_id="abc",
    )
    assert str(error) == (
        "POST /api/activities/scheduled-activity → 400 (request id abc): "
        "due_datetime: This field is required."
    )
    assert error.field_errors == {"due_datetime": ["This field is required."]}


def test_renders_without_status_or_request_id():
    assert str(KizenError("boom", method="GET", path="/api/x")) == "GET /api/x: boom"
    assert str(KizenError("boom")) == "boom"
    assert str(KizenError("boom", status=503)) == "503: boom"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, KizenValidationError),
        (401, KizenAuthError),
        (403, KizenAuthError),
        (404, KizenNotFoundError),
        (409, KizenHTTPError),
        (429, KizenRateLimitError),
        (500, KizenServerError),
        (504, KizenServerError),
    ],
)
def test_error_class_by_status(status, error_class):
    assert http_error_class(status) is error_class


def test_rate_limit_error_keeps_retry_after():
    error = KizenRateLimitError("slow down", status=429, retry_after=3.0)
    assert error.retry_after == 3.0
    assert isinstance(error, KizenHTTPError)


@pytest.mark.parametrize(
    ("body", "message", "field_errors"),
    [
        ({"detail": "Not found.", "code": "not_found"}, "Not found.", {}),
        (
            {"due_datetime": ["This field is required."]},
            "due_datetime: This field is required.",
            {"due_datetime": ["This field is required."]},
        ),
        (
            {"activity_object_id": [{"message": "Object does not exist.", "code": "does_not_exist"}]},
            "activity_object_id: Object does not exist.",
            {"activity_object_id": ["Object does not exist."]},
        ),
        (
            {"non_field_errors": ["Give activity_object_id or activity_object_name."]},
            "Give activity_object_id or activity_object_name.",
            {"non_field_errors": ["Give activity_object_id or activity_object_name."]},
        ),
        (
            {"associated_entities": [{}, {"entity": {"name": ["No contact with this email."]}}]},
            "associated_entities[1].entity.name: No contact with this email.",
            {"associated_entities[1].entity.name": ["No contact with this email."]},
        ),
        (
            {"note": ["Too long.", "Bad characters."], "role_id": ["Not a valid UUID."]},
            "note: Too long. Bad characters.; role_id: Not a valid UUID.",
            {"note": ["Too long.", "Bad characters."], "role_id": ["Not a valid UUID."]},
        ),
        (["Something went wrong."], "Something went wrong.", {}),
        ("plain text", "plain text", {}),
        (None, "", {}),
    ],
)
def test_parses_drf_shapes(body, message, field_errors):
    assert parse_drf_error(body) == (message, field_errors)


def test_a_404_while_watching_names_the_api_users_activity_permissions() -> None:
    not_found = KizenNotFoundError("GET /api/activities/scheduled-activity/a1 → 404: Not found.", status=404)
    message = unwatchable_message("a1", not_found)
    assert message.startswith("Scheduled activity a1 cannot be watched: ")
    assert "activity permissions" in message
    assert "activity permissions" not in unwatchable_message("a1", KizenServerError("boom", status=500))
