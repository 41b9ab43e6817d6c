"""The KizenError family, and the parsing of Django REST Framework error bodies into messages.

Every error renders as one line that reads well in an Airflow task log::

    POST /api/activities/scheduled-activity → 400 (request id abc): due_datetime: This field is required.

No error ever holds request headers, so the API key cannot leak through one.
"""

from __future__ import annotations

from typing import Any

# DRF puts errors that belong to no single field under this key; they render without a field prefix.
NON_FIELD_ERRORS = "non_field_errors"


class KizenError(Exception):
    """Base of every error the provider raises about Kizen. Never contains the API key."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        field_errors: dict[str, list[str]] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.field_errors = field_errors or {}
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        where = " ".join(part for part in (self.method, self.path) if part)
        outcome = [str(self.status)] if self.status is not None else []
        if self.request_id:
            outcome.append(f"(request id {self.request_id})")
        head = " → ".join(part for part in (where, " ".join(outcome)) if part)
        return f"{head}: {self.message}" if head else self.message


class KizenConfigError(KizenError):
    """The `kizen` connection is unusable: insecure http, a missing business id, a missing key..."""


class KizenTransportError(KizenError):
    """A network failure where Kizen certainly created nothing, after the retries ran out."""


class KizenUnknownOutcomeError(KizenError):
    """A POST may or may not have created the record (read timeout, dropped connection, 502, 504).

    It is never re-sent blindly: the caller must look for the record before trying again.
    """


class KizenLimitError(KizenError):
    """A response broke one of the connection's limits; `limit` names it (the extra that sets it, or
    ``next`` for a listing whose next link repeats).
    """

    def __init__(self, message: str, *, limit: str, **kwargs: Any) -> None:
        self.limit = limit
        super().__init__(message, **kwargs)


class KizenHTTPError(KizenError):
    """Kizen answered with a non-2xx status (after any retries), or with a body that is not JSON."""


class KizenAuthError(KizenHTTPError):
    """401 or 403: a wrong API key or user id, a wrong business id, or a missing permission."""


class KizenNotFoundError(KizenHTTPError):
    """404: the record does not exist or this user cannot see it."""


class KizenValidationError(KizenHTTPError):
    """400: Kizen rejected the payload; `field_errors` says which fields and why."""


class KizenRateLimitError(KizenHTTPError):
    """429 after the retries ran out; `retry_after` is Kizen's last Retry-After, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class KizenServerError(KizenHTTPError):
    """5xx after the retries ran out."""


def not_visible_hint(activity_id: str) -> str:
    """The likely cause of a 404 for an activity this connection created, and what to check."""
    return (
        f"Kizen answers 404 both for a deleted activity and for one the API user may not see: unless "
        f"activity {activity_id} was deleted, check the API user's activity permissions in Kizen (it must "
        "see activities assigned to other employees and roles; see the connection docs)"
    )


def http_error_class(status: int) -> type[KizenHTTPError]:
    """The most specific error class for an HTTP status."""
    if status in (401, 403):
        return KizenAuthError
    if status == 404:
        return KizenNotFoundError
    if status == 400:
        return KizenValidationError
    if status == 429:
        return KizenRateLimitError
    if status >= 500:
        return KizenServerError
    return KizenHTTPError


def parse_drf_error(body: Any) -> tuple[str, dict[str, list[str]]]:
    """Kizen's human message and the field errors, from any DRF error shape.

    Handles ``{"detail": ..., "code": ...}``, ``{"field": ["msg"]}``, ``{"field": [{"message", "code"}]}``,
    ``non_field_errors``, a bare list of messages, and nested serializers, whose fields are named by
    their path (``associated_entities[0].entity.name``).
    """
    field_errors: dict[str, list[str]] = {}
    _collect(body, "", field_errors)
    parts = []
    for field, messages in field_errors.items():
        joined = " ".join(messages)
        parts.append(joined if field in ("", NON_FIELD_ERRORS) else f"{field}: {joined}")
    field_errors.pop("", None)
    return "; ".join(parts), field_errors


def _collect(node: Any, field: str, out: dict[str, list[str]]) -> None:
    if _is_message(node):
        out.setdefault(field, []).append(node.get("message") or node["detail"])
    elif isinstance(node, dict):
        for key, value in node.items():
            _collect(value, f"{field}.{key}" if field else str(key), out)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            # A list of messages belongs to the field itself; a list of objects is a list of records.
            is_record = isinstance(item, dict) and not _is_message(item)
            _collect(item, f"{field}[{index}]" if is_record else field, out)
    elif node is not None and node != "":
        out.setdefault(field, []).append(str(node))


def _is_message(node: Any) -> bool:
    """A ``{"detail", "code"}`` or ``{"message", "code"}`` object: one message, not a nested serializer."""
    return isinstance(node, dict) and any(isinstance(node.get(key), str) for key in ("message", "detail"))
