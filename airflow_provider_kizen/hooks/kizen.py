"""KizenHook: sync (httpx.Client) and async (httpx.AsyncClient over aiohttp) access to Kizen's API.

Both transports only move bytes: `client.core` builds each request, and its `RetryCall` decides what a
response or a network error means, so retries and errors are the same on both paths.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

import httpx
from airflow.sdk import BaseHook, Connection
from airflow.sdk import log as airflow_sdk_log
from pydantic import BaseModel, TypeAdapter, ValidationError

from airflow_provider_kizen import DEFAULT_CONN_ID
from airflow_provider_kizen.client import limits
from airflow_provider_kizen.client.config import KizenConnectionConfig, parse_connection
from airflow_provider_kizen.client.core import (
    Done,
    Pages,
    Retry,
    RetryCall,
    build_request,
    decode_json,
    encode_filters,
    split_page,
    unexpected_body,
)
from airflow_provider_kizen.client.errors import (
    KizenAuthError,
    KizenConfigError,
    KizenError,
    KizenNotFoundError,
)
from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.client.transport import async_client, client_options
from airflow_provider_kizen.models.scheduled_activity import (
    ScheduledActivity,
    ScheduledActivityUpdate,
    ScheduledActivityWrite,
    ValidatedWrite,
)

SCHEDULED_ACTIVITIES_PATH = "/api/activities/scheduled-activity"
CONNECTION_CHECK_PATH = "/api/custom-objects"
# The "Test" button should answer within seconds, not after a full retry budget.
CONNECTION_CHECK_POLICY = RetryPolicy(max_attempts=2, max_elapsed_seconds=10)

Params = Mapping[str, str | int] | None
# A plain mapping is validated before it is sent; a model or a ValidatedWrite already was.
WritePayload = ScheduledActivityWrite | ValidatedWrite | Mapping[str, Any]
# A pydantic model or a TypedDict (such as ActivityStatus): what each activity of a page becomes.
Item = TypeVar("Item")


class KizenHook(BaseHook):
    """Calls Kizen's API through a `kizen` connection, retrying what is safe to retry.

    :param kizen_conn_id: the Airflow connection id (conn type ``kizen``).
    :param timeout: seconds to wait for each read or write; overrides the connection's ``timeout`` extra.
    :param retry_policy: attempts, time budget and backoff; overrides the connection's retry extras.
    """

    conn_name_attr = "kizen_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "kizen"
    hook_name = "Kizen"

    def __init__(
        self,
        kizen_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.kizen_conn_id = kizen_conn_id
        self.timeout = timeout
        self.retry_policy = retry_policy
        self._config: KizenConnectionConfig | None = None
        self._client: httpx.Client | None = None
        self._async_client_task: asyncio.Task[httpx.AsyncClient] | None = None

    # -- configuration -------------------------------------------------------------------------------

    def get_config(self) -> KizenConnectionConfig:
        """The parsed connection, read once per hook."""
        if self._config is None:
            conn = self.get_connection(self.kizen_conn_id)
            if conn.password:
                airflow_sdk_log.mask_secret(conn.password)
            self._config = parse_connection(
                conn, conn.extra_dejson, timeout=self.timeout, retry_policy=self.retry_policy
            )
        return self._config

    async def aget_config(self) -> KizenConnectionConfig:
        """The parsed connection, read without blocking the event loop."""
        if self._config is None:
            conn = await self.aget_connection(self.kizen_conn_id)
            if conn.password:
                await airflow_sdk_log.amask_secret(conn.password)
            extra = await _aextra_dejson(conn)
            self._config = parse_connection(conn, extra, timeout=self.timeout, retry_policy=self.retry_policy)
        return self._config

    def get_conn(self) -> httpx.Client:
        """The hook's httpx.Client; connections are pooled and reused across calls."""
        if self._client is None:
            self._client = httpx.Client(**client_options(self.get_config()))
        return self._client

    async def aget_conn(self) -> httpx.AsyncClient:
        """The hook's httpx.AsyncClient for the running event loop, built once for all concurrent callers."""
        loop = asyncio.get_running_loop()
        building = self._async_client_task
        # A client's pool belongs to one event loop; a new loop, or a failed build, needs a new client.
        if building is None or building.get_loop() is not loop or _failed(building):
            building = self._async_client_task = loop.create_task(self._anew_client())
        return await asyncio.shield(building)

    async def _anew_client(self) -> httpx.AsyncClient:
        config = await self.aget_config()
        # Building a client loads the CA bundle, tens of milliseconds of CPU: keep it off the event loop.
        return await asyncio.to_thread(async_client, config)

    def close(self) -> None:
        """Close the sync client's pooled connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close both clients' pooled connections."""
        building, self._async_client_task = self._async_client_task, None
        # A client built on another (finished) loop cannot be closed from this one; its loop took it along.
        same_loop = building is not None and building.get_loop() is asyncio.get_running_loop()
        if building is not None and same_loop and building.done() and not _failed(building):
            await building.result().aclose()
        self.close()

    # -- scheduled activities ------------------------------------------------------------------------

    def create_scheduled_activity(self, payload: WritePayload) -> ScheduledActivity:
        """Create one scheduled activity (``POST /api/activities/scheduled-activity``).

        :raises KizenUnknownOutcomeError: when it may or may not have been created; it is not re-sent.
        """
        response = self._request("POST", SCHEDULED_ACTIVITIES_PATH, json=_write_body(payload))
        return _read_activity(response)

    def update_scheduled_activity(
        self, activity_id: str, changes: ScheduledActivityUpdate | Mapping[str, Any]
    ) -> ScheduledActivity:
        """Change the given fields of one scheduled activity, and only those (a PATCH).

        :raises ValueError: when `changes` sets no field.
        :raises pydantic.ValidationError: for an unknown field, a null Kizen does not allow, or the
            activity type (it can only be set on create).
        :raises KizenNotFoundError: when the activity does not exist or is not visible.
        """
        response = self._request("PATCH", _activity_path(activity_id), json=_update_body(changes))
        return _read_activity(response)

    def delete_scheduled_activity(self, activity_id: str) -> None:
        """Delete one scheduled activity. A retried DELETE answered 404 counts as done.

        :raises KizenNotFoundError: when it was already gone (or never visible) before this call.
        """
        self._request("DELETE", _activity_path(activity_id))

    def get_scheduled_activity(self, activity_id: str) -> ScheduledActivity:
        """Read one scheduled activity by id."""
        response = self._request("GET", _activity_path(activity_id))
        return _read_activity(response)

    def list_scheduled_activities(self, **filters: Any) -> Iterator[ScheduledActivity]:
        """Every scheduled activity matching the filters, following the pages' `next` links.

        Filters pass through as query parameters (``search``, ``from_date``, ``to_date``, ``activity_name``,
        ``employee_ids``, ``completed``, ``ordering``, ``page_size``...): bools become true/false, lists
        become comma lists and datetimes ISO strings.
        """
        for page in self.list_scheduled_activity_pages(ScheduledActivity, **filters):
            yield from page

    def list_scheduled_activity_pages(self, item_model: type[Item], **filters: Any) -> Iterator[list[Item]]:
        """The same list one page at a time, each activity as `item_model`, so a caller can count its
        requests and stop between them. ``ActivityStatus`` decodes only what a wait needs."""
        pages = Pages(self.get_config(), SCHEDULED_ACTIVITIES_PATH, encode_filters(filters))
        while True:
            response = self._request("GET", pages.path, params=pages.params)
            results, next_url = _read_page(response, item_model)
            yield results
            if next_url is None:
                return
            pages.follow(next_url)

    async def acreate_scheduled_activity(
        self, payload: WritePayload, *, pace: Pace | None = None
    ) -> ScheduledActivity:
        """Async twin of `create_scheduled_activity`; `pace` is the batch's shared Pace."""
        response = await self._arequest(
            "POST", SCHEDULED_ACTIVITIES_PATH, json=_write_body(payload), pace=pace
        )
        return _read_activity(response)

    async def aupdate_scheduled_activity(
        self,
        activity_id: str,
        changes: ScheduledActivityUpdate | Mapping[str, Any],
        *,
        pace: Pace | None = None,
    ) -> ScheduledActivity:
        """Async twin of `update_scheduled_activity`."""
        response = await self._arequest(
            "PATCH", _activity_path(activity_id), json=_update_body(changes), pace=pace
        )
        return _read_activity(response)

    async def adelete_scheduled_activity(self, activity_id: str, *, pace: Pace | None = None) -> None:
        """Async twin of `delete_scheduled_activity`."""
        await self._arequest("DELETE", _activity_path(activity_id), pace=pace)

    async def aget_scheduled_activity(
        self, activity_id: str, *, pace: Pace | None = None
    ) -> ScheduledActivity:
        """Async twin of `get_scheduled_activity`."""
        response = await self._arequest("GET", _activity_path(activity_id), pace=pace)
        return _read_activity(response)

    async def alist_scheduled_activities(
        self, *, pace: Pace | None = None, **filters: Any
    ) -> AsyncIterator[ScheduledActivity]:
        """Async twin of `list_scheduled_activities`; `pace` is the batch's shared Pace, for every page."""
        async for page in self.alist_scheduled_activity_pages(ScheduledActivity, pace=pace, **filters):
            for activity in page:
                yield activity

    async def alist_scheduled_activity_pages(
        self, item_model: type[Item], *, pace: Pace | None = None, **filters: Any
    ) -> AsyncGenerator[list[Item], None]:
        """Async twin of `list_scheduled_activity_pages`."""
        pages = Pages(await self.aget_config(), SCHEDULED_ACTIVITIES_PATH, encode_filters(filters))
        while True:
            response = await self._arequest("GET", pages.path, params=pages.params, pace=pace)
            results, next_url = _read_page(response, item_model)
            yield results
            if next_url is None:
                return
            pages.follow(next_url)

    # -- connection check ----------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with ``GET /api/custom-objects?page_size=1``; the answer says what to fix."""
        try:
            config = self.get_config()
            request = build_request(config, "GET", CONNECTION_CHECK_PATH, params={"page_size": 1})
            call = RetryCall(CONNECTION_CHECK_POLICY, request)
            decode_json(self._send(call))
        except KizenAuthError as exc:
            return False, _auth_advice(exc)
        except KizenNotFoundError as exc:
            return False, f"Kizen has no API at this Base URL ({exc}). Check the Base URL."
        except KizenError as exc:
            return False, str(exc)
        return True, f"Connected to Kizen at {config.base_url} as user {config.user_id}."

    # -- transports ----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, params: Params = None, json: Any = None) -> httpx.Response:
        config = self.get_config()
        return self._send(RetryCall(config.retry_policy, build_request(config, method, path, params, json)))

    def _send(self, call: RetryCall) -> httpx.Response:
        client = self.get_conn()
        response_limits = self.get_config().limits
        while True:
            try:
                decision = call.after_response(limits.send(client, call.request, response_limits))
            except httpx.TransportError as exc:
                decision = call.after_transport_error(exc)
            if isinstance(decision, Done):
                return decision.response
            self._log_retry(call, decision)
            time.sleep(decision.delay_seconds)

    async def _arequest(
        self, method: str, path: str, *, params: Params = None, json: Any = None, pace: Pace | None = None
    ) -> httpx.Response:
        client = await self.aget_conn()  # reads the connection once, even for many concurrent requests
        config = await self.aget_config()
        call = RetryCall(config.retry_policy, build_request(config, method, path, params, json))
        while True:
            if pace is not None:
                await pace.wait_turn()
            try:
                decision = call.after_response(await limits.asend(client, call.request, config.limits))
            except httpx.TransportError as exc:
                decision = call.after_transport_error(exc)
            if isinstance(decision, Done):
                return decision.response
            self._log_retry(call, decision)
            if pace is not None and decision.rate_limited:
                # The whole batch waits out the 429 together; wait_turn() above does the waiting.
                pace.slow_down(decision.delay_seconds)
            else:
                await asyncio.sleep(decision.delay_seconds)

    def _log_retry(self, call: RetryCall, retry: Retry) -> None:
        self.log.warning(
            "%s %s: %s; attempt %d of %d, retrying in %.1f s",
            call.method,
            call.path,
            call.last_failure,
            call.attempts,
            call.policy.max_attempts,
            retry.delay_seconds,
        )


class _Page(BaseModel, Generic[Item]):
    next: str | None = None
    results: list[Item]


@functools.cache
def _adapter(target: Any) -> TypeAdapter[Any]:
    """One adapter per type (a page of items, or one item), built on first use (milliseconds each)."""
    return TypeAdapter(target)


def _read_page(response: httpx.Response, item_model: type[Item]) -> tuple[list[Item], str | None]:
    """A page's items and its `next` link, validated straight from the JSON bytes (a few ms for 1,000
    activities, and only the item type's fields become Python objects)."""
    try:
        page: _Page[Item] = _adapter(_Page[item_model]).validate_json(response.content)  # type: ignore[valid-type]
    except ValidationError:
        # Not a page of such items: the slow path raises the error that says what is wrong.
        results, next_url = split_page(decode_json(response), response)
        adapter = _adapter(item_model)  # type: ignore[arg-type]
        return [_read_item(response, item, adapter) for item in results], next_url
    return page.results, page.next or None


def _read_activity(response: httpx.Response) -> ScheduledActivity:
    """The activity in a response, validated straight from the JSON bytes (a batch reads thousands)."""
    try:
        return ScheduledActivity.model_validate_json(response.content)
    except ValidationError:
        # Not JSON, or not an activity: the slow path raises the error that says which.
        return _read_item(response, decode_json(response), _adapter(ScheduledActivity))


def _read_item(response: httpx.Response, body: Any, adapter: TypeAdapter[Item]) -> Item:
    """An activity from a response's JSON; a body that is not one fails as a KizenHTTPError."""
    try:
        return adapter.validate_python(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'the body'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)[:3]
        )
        raise unexpected_body(response, "a scheduled activity", problems) from None


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


async def _aextra_dejson(conn: Connection) -> dict[str, Any]:
    # Connection.aextra_dejson arrived in Airflow 3.3.2. Before it, the extra is parsed here: the sync
    # extra_dejson masks values through a blocking call, and a kizen extra holds no secret to mask.
    if hasattr(conn, "aextra_dejson"):
        return cast("dict[str, Any]", await conn.aextra_dejson())
    try:
        extra = json.loads(conn.extra) if conn.extra else {}
    except ValueError:
        raise KizenConfigError(f"Kizen connection {conn.conn_id!r}: the extra is not valid JSON") from None
    if not isinstance(extra, dict):
        raise KizenConfigError(f"Kizen connection {conn.conn_id!r}: the extra must be a JSON object")
    return extra


def _write_body(payload: WritePayload) -> bytes:
    """The create's body, encoded as JSON once."""
    if isinstance(payload, ValidatedWrite):
        return payload.body
    if not isinstance(payload, ScheduledActivityWrite):
        payload = ScheduledActivityWrite.model_validate(payload)
    return ValidatedWrite.of(payload).body


def _update_body(changes: ScheduledActivityUpdate | Mapping[str, Any]) -> dict[str, Any]:
    model = (
        changes
        if isinstance(changes, ScheduledActivityUpdate)
        else ScheduledActivityUpdate.model_validate(changes)
    )
    body = model.to_request_json()
    if not body:
        raise ValueError("no changes given: name at least one field to change")
    return body


def _activity_path(activity_id: str) -> str:
    activity_id = str(activity_id or "").strip()
    if not activity_id:
        raise ValueError("activity_id must not be empty")
    return f"{SCHEDULED_ACTIVITIES_PATH}/{quote(activity_id, safe='')}"


def _auth_advice(exc: KizenAuthError) -> str:
    if exc.status == 401:
        return (
            f"Kizen rejected the credentials ({exc}). Check the API key and the User ID on your Kizen "
            "'My Profile' page."
        )
    return (
        f"Kizen refused access ({exc}). Check the Business ID: the user must belong to that business "
        "and be allowed to read custom objects."
    )
