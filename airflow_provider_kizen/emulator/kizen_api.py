"""Kizen's routes: scheduled activities, logging, activity types, team, roles, custom objects and records.

They are plain Starlette routes that take the raw `Request` and answer raw JSON: this keeps the create
path free of FastAPI's per-request dependency solving and model building, and lets the answers carry
Kizen's exact shapes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.emulator.catalog import Catalog
from airflow_provider_kizen.emulator.profiles import ActiveProfile
from airflow_provider_kizen.emulator.store import ORDERINGS, ActivityFilters, ActivityStore
from airflow_provider_kizen.emulator.update_rules import UpdateRulesSetting, completed_refusal
from airflow_provider_kizen.emulator.validation import (
    CREATE_ONLY_FIELDS,
    REQUIRED,
    FieldInvalid,
    ScheduledActivityValidator,
    ValidationFailed,
    does_not_exist,
    parse_datetime,
    type_name,
)

Handler = Callable[[Request], Awaitable[Response]]
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
_TRUE_WORDS = frozenset({"true", "1"})
_FALSE_WORDS = frozenset({"false", "0"})


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status, media_type="application/json")


class BadRequest(Exception):
    """Raised by a handler's helpers; the router answers it as a 400 (or the given status)."""

    def __init__(self, payload: Any, status: int = 400) -> None:
        super().__init__(payload)
        self.payload = payload
        self.status = status


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        raise BadRequest({"detail": f'Unsupported media type "{content_type}" in request.'}, 415)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest({"detail": f"JSON parse error - {exc}", "code": "parse_error"}) from None


def paginate(request: Request, items: list[Any]) -> dict[str, Any]:
    """DRF's page-number pagination: `page`, `page_size` (default 100, at most 1000), absolute links."""
    params = request.query_params
    try:
        page_size = int(params.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        page_size = DEFAULT_PAGE_SIZE
    page_size = DEFAULT_PAGE_SIZE if page_size < 1 else min(page_size, MAX_PAGE_SIZE)
    try:
        page = int(params.get("page", 1))
    except ValueError:
        raise BadRequest({"detail": "Invalid page.", "code": "not_found"}, 404) from None
    last_page = max(1, -(-len(items) // page_size))
    if page < 1 or page > last_page:
        raise BadRequest({"detail": "Invalid page.", "code": "not_found"}, 404)
    start = (page - 1) * page_size
    previous = None
    if page > 1:
        previous = str(request.url.include_query_params(page=page - 1))
    return {
        "count": len(items),
        "next": str(request.url.include_query_params(page=page + 1)) if page < last_page else None,
        "previous": previous,
        "results": items[start : start + page_size],
    }


def _parse_bool(name: str, value: str) -> bool:
    word = value.lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise BadRequest({name: ["Enter a valid boolean."]})


def _parse_filters(request: Request) -> ActivityFilters:
    params = request.query_params
    dates: dict[str, datetime | None] = {}
    for name in ("from_date", "to_date"):
        value = params.get(name)
        try:
            dates[name] = parse_datetime(value) if value else None
        except FieldInvalid:
            raise BadRequest({name: ["Enter a valid date/time."]}) from None
    ids: dict[str, frozenset[str] | None] = {}
    for name in ("employee_ids", "role_ids"):
        value = params.get(name)
        ids[name] = frozenset(part.strip() for part in value.split(",") if part.strip()) if value else None
    completed = params.get("completed")
    assigned_to_me = params.get("assigned_to_me")
    ordering = params.get("ordering", "due_datetime")
    return ActivityFilters(
        from_date=dates["from_date"],
        to_date=dates["to_date"],
        search=params.get("search") or None,
        activity_name=params.get("activity_name") or None,
        employee_ids=ids["employee_ids"],
        role_ids=ids["role_ids"],
        completed=_parse_bool("completed", completed) if completed else None,
        assigned_to=seed.USER_ID
        if assigned_to_me and _parse_bool("assigned_to_me", assigned_to_me)
        else None,
        # DRF's OrderingFilter ignores fields it does not know.
        ordering=ordering if ordering in ORDERINGS else "due_datetime",
    )


def build_kizen_routes(
    store: ActivityStore, catalog: Catalog, profile: ActiveProfile, update_rules: UpdateRulesSetting
) -> list[Route]:
    """The `/api` routes, answering from `store` and the seed `catalog` as `profile` and `update_rules` say.

    The profile decides what reads find and see; the update rules what a write may change.
    """
    routes: list[Route] = []
    api_user = catalog.employees[seed.USER_ID]

    def visible(activity_id: str) -> dict[str, Any] | None:
        """The activity, or None when it does not exist or the profile hides it from the API user."""
        data = store.get(activity_id)
        return data if data is not None and profile.current.can_see(data, api_user) else None

    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            routes.append(Route(path, handler, methods=[method]))
            return handler

        return register

    validator = ScheduledActivityValidator(catalog)

    @route("POST", "/api/activities/scheduled-activity")
    async def create_scheduled_activity(request: Request) -> Response:
        body = await _json_body(request)
        fields = validator.validate(body, creating=True, partial=False, requesting_user_id=seed.USER_ID)
        return json_response(store.create(fields), 201)

    @route("GET", "/api/activities/scheduled-activity")
    async def list_scheduled_activities(request: Request) -> Response:
        activities = store.query(_parse_filters(request), profile.current, api_user)
        return json_response(paginate(request, activities))

    @route("GET", "/api/activities/scheduled-activity/{activity_id}")
    async def get_scheduled_activity(request: Request) -> Response:
        data = visible(request.path_params["activity_id"])
        return json_response(_NOT_FOUND, 404) if data is None else json_response(data)

    def refuse_if_completed(activity: dict[str, Any], body: object) -> None:
        refusal = completed_refusal(update_rules.current, activity, body, validator.update_fields)
        if refusal is not None:
            raise ValidationFailed(refusal)

    async def update(request: Request, *, partial: bool) -> Response:
        activity_id = request.path_params["activity_id"]
        activity = visible(activity_id)
        if activity is None:
            return json_response(_NOT_FOUND, 404)
        body = await _json_body(request)
        if isinstance(body, dict):
            body = {key: value for key, value in body.items() if key not in CREATE_ONLY_FIELDS}
        refuse_if_completed(activity, body)
        fields = validator.validate(body, creating=False, partial=partial, requesting_user_id=seed.USER_ID)
        if not partial and update_rules.current.put == "replace":
            validator.fill_defaults(fields, seed.USER_ID)
        return json_response(store.update(activity_id, fields))

    @route("PUT", "/api/activities/scheduled-activity/{activity_id}")
    async def replace_scheduled_activity(request: Request) -> Response:
        return await update(request, partial=False)

    @route("PATCH", "/api/activities/scheduled-activity/{activity_id}")
    async def patch_scheduled_activity(request: Request) -> Response:
        return await update(request, partial=True)

    @route("DELETE", "/api/activities/scheduled-activity/{activity_id}")
    async def delete_scheduled_activity(request: Request) -> Response:
        activity_id = request.path_params["activity_id"]
        if visible(activity_id) is None or not store.delete(activity_id):
            return json_response(_NOT_FOUND, 404)
        return Response(status_code=204)

    @route("PATCH", "/api/activities/scheduled-activity/{activity_id}/notes")
    async def patch_notes(request: Request) -> Response:
        activity_id = request.path_params["activity_id"]
        activity = visible(activity_id)
        if activity is None:
            return json_response(_NOT_FOUND, 404)
        body = await _json_body(request)
        note_only = {"note": body["note"]} if isinstance(body, dict) and "note" in body else body
        refuse_if_completed(activity, note_only)
        if isinstance(note_only, dict) and "note" not in note_only:
            raise ValidationFailed({"note": [REQUIRED]})
        fields = validator.validate(note_only, creating=False, partial=True, requesting_user_id=seed.USER_ID)
        return json_response(store.update(activity_id, fields))

    @route("GET", "/api/activities/logged/{logged_id}")
    async def get_logged_activity(request: Request) -> Response:
        logged_id = request.path_params["logged_id"]
        store.apply_due_completions()
        logged = store.logged.get(logged_id)
        return json_response(_NOT_FOUND, 404) if logged is None else json_response(logged)

    @route("POST", "/api/activities/{id_or_api_name}/log-activity")
    async def log_activity(request: Request) -> Response:
        id_or_api_name = request.path_params["id_or_api_name"]
        activity_type = catalog.activity_type(id_or_api_name)
        if activity_type is None:
            return json_response(_NOT_FOUND, 404)
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ValidationFailed(
                {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name(body)}."]}
            )
        errors: dict[str, Any] = {}
        related_objects = body.get("related_objects")
        if related_objects is None:
            errors["related_objects"] = [REQUIRED]
        elif not isinstance(related_objects, list):
            errors["related_objects"] = [
                f'Expected a list of items but got type "{type_name(related_objects)}".'
            ]
        notes = body.get("notes", "")
        if not isinstance(notes, str):
            errors["notes"] = ["Not a valid string."]
        scheduled_activity_id = body.get("scheduled_activity_id")
        if scheduled_activity_id is not None:
            scheduled = visible(str(scheduled_activity_id))
            if scheduled is None:
                errors["scheduled_activity_id"] = does_not_exist(
                    f'Invalid pk "{scheduled_activity_id}" - object does not exist.'
                )
            elif scheduled["activity_object"]["id"] != activity_type["id"]:
                errors["scheduled_activity_id"] = ["The scheduled activity is of another activity type."]
            elif scheduled["completed_at"] is not None:
                errors["scheduled_activity_id"] = ["The scheduled activity is already completed."]
        if errors:
            raise ValidationFailed(errors)
        logged = store.log_activity(
            Catalog.activity_type_read(activity_type),
            scheduled_activity_id=None if scheduled_activity_id is None else str(scheduled_activity_id),
            notes=notes,
            related_objects=related_objects or [],
            employee=Catalog.employee_read(catalog.employees[seed.USER_ID]),
        )
        return json_response(logged, 201)

    @route("GET", "/api/activities")
    async def list_activity_types(request: Request) -> Response:
        search = request.query_params.get("search", "").lower()
        custom_object_id = request.query_params.get("custom_object_id")
        types = [
            t
            for t in catalog.activity_types.values()
            if search in t["name"].lower() and custom_object_id in (None, t["custom_object_id"])
        ]
        return json_response(paginate(request, types))

    @route("GET", "/api/activities/{id_or_api_name}")
    async def get_activity_type(request: Request) -> Response:
        id_or_api_name = request.path_params["id_or_api_name"]
        activity_type = catalog.activity_type(id_or_api_name)
        return json_response(_NOT_FOUND, 404) if activity_type is None else json_response(activity_type)

    @route("GET", "/api/custom-objects")
    async def list_custom_objects(request: Request) -> Response:
        return json_response(paginate(request, list(catalog.custom_objects.values())))

    @route("GET", "/api/team/typeahead")
    async def team_typeahead(request: Request) -> Response:
        search = request.query_params.get("search", "").lower()
        members = [
            Catalog.employee_read(e)
            for e in catalog.employees.values()
            if search in e["display_name"].lower() or search in e["email"].lower()
        ]
        return json_response(paginate(request, members))

    @route("GET", "/api/team/{employee_id}")
    async def get_team_member(request: Request) -> Response:
        employee_id = request.path_params["employee_id"]
        employee = catalog.employees.get(employee_id)
        return json_response(_NOT_FOUND, 404) if employee is None else json_response(employee)

    @route("GET", "/api/role")
    async def list_roles(request: Request) -> Response:
        return json_response(paginate(request, [Catalog.role_read(r) for r in catalog.roles.values()]))

    @route("GET", "/api/records/{object_name}/lookup")
    async def lookup_record(request: Request) -> Response:
        object_name = request.path_params["object_name"]
        custom_object = catalog.custom_object_by_name(object_name)
        identifier = request.query_params.get("identifier")
        if custom_object is None or not identifier:
            return json_response(_NOT_FOUND, 404)
        entity = catalog.entity_by_name(custom_object["id"], identifier)
        return json_response(_NOT_FOUND, 404) if entity is None else json_response(entity)

    return routes
