from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from datetime import UTC, datetime

import httpx
import pytest

from airflow_provider_kizen.client.errors import (
    KizenAuthError,
    KizenHTTPError,
    KizenRateLimitError,
    KizenServerError,
    KizenTransportError,
    KizenUnknownOutcomeError,
    KizenValidationError,
)
from airflow_provider_kizen.client.pacing import Pace
from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.hooks import kizen as hook_module
from airflow_provider_kizen.hooks.kizen import KizenHook
from airflow_provider_kizen.models.scheduled_activity import ActivityStatus, is_completed

ACTIVITY = {
    "id": "0d9c4a5e-8f1e-4f7b-9a57-3f1f3b7f0a11",
    "due_datetime": "2026-03-02T09:00:00Z",
    "completed_at": None,
    "logged_activity_id": None,
    "activity_object": {"id": "a0", "name": "Follow-up call", "api_name": "follow_up_call"},
    "employee": {"id": "e1", "display_name": "Ada"},
}
PAYLOAD = {"activity_object_name": "follow_up_call", "due_datetime": "2026-03-02T09:00:00Z"}


class Script:
    """Answers requests from a list of responses or exceptions, and records what was sent."""

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def ok(body: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"X-Request-ID": "req-ok"})


def test_create_sends_only_the_set_fields_and_reads_the_reply(mock_hook, api_key):
    script = Script(ok(ACTIVITY, 201))
    activity = mock_hook(script).create_scheduled_activity(PAYLOAD)
    assert activity.id == ACTIVITY["id"]
    assert not activity.is_completed
    (request,) = script.requests
    assert request.method == "POST"
    assert request.url == "https://kizen.example/api/activities/scheduled-activity"
    assert json.loads(request.content) == PAYLOAD
    assert request.headers["X-API-KEY"] == api_key
    assert request.headers["X-BUSINESS-ID"] == "biz-1"
    assert request.headers["X-USER-ID"] == "user-1"


def test_create_rejects_a_typo_before_sending(mock_hook):
    script = Script()
    with pytest.raises(ValueError, match="due_date_time"):
        mock_hook(script).create_scheduled_activity({**PAYLOAD, "due_date_time": "2026-03-02T09:00:00Z"})
    assert script.requests == []


def test_get_by_id(mock_hook):
    script = Script(ok({**ACTIVITY, "completed_at": "2026-03-02T10:00:00Z"}))
    activity = mock_hook(script).get_scheduled_activity(ACTIVITY["id"])
    assert activity.is_completed
    assert script.requests[0].url.path == f"/api/activities/scheduled-activity/{ACTIVITY['id']}"


def test_list_follows_next_links_and_passes_filters(mock_hook, api_key):
    script = Script(
        ok(
            {
                "count": 3,
                "next": "https://kizen.example/api/activities/scheduled-activity?page=2&completed=false",
                "previous": None,
                "results": [ACTIVITY, {**ACTIVITY, "id": "b"}],
            }
        ),
        ok({"count": 3, "next": None, "previous": "x", "results": [{**ACTIVITY, "id": "c"}]}),
    )
    ids = [
        a.id for a in mock_hook(script).list_scheduled_activities(completed=False, employee_ids=["e1", "e2"])
    ]
    assert ids == [ACTIVITY["id"], "b", "c"]
    first, second = script.requests
    assert dict(first.url.params) == {"completed": "false", "employee_ids": "e1,e2"}
    assert dict(second.url.params) == {"page": "2", "completed": "false"}
    assert second.headers["X-API-KEY"] == api_key


def test_429_is_retried_after_retry_after(mock_hook, mocker):
    sleep = mocker.patch("airflow_provider_kizen.hooks.kizen.time.sleep")
    script = Script(httpx.Response(429, headers={"Retry-After": "3"}), ok(ACTIVITY, 201))
    mock_hook(script).create_scheduled_activity(PAYLOAD)
    assert len(script.requests) == 2
    sleep.assert_called_once_with(3.0)


def test_post_with_unknown_outcome_is_sent_once(mock_hook):
    script = Script(httpx.ReadTimeout("timed out"), ok(ACTIVITY, 201))
    with pytest.raises(KizenUnknownOutcomeError):
        mock_hook(script).create_scheduled_activity(PAYLOAD)
    assert len(script.requests) == 1


def test_post_502_is_sent_once(mock_hook):
    script = Script(httpx.Response(502), ok(ACTIVITY, 201))
    with pytest.raises(KizenUnknownOutcomeError, match="502"):
        mock_hook(script).create_scheduled_activity(PAYLOAD)
    assert len(script.requests) == 1


def test_post_is_resent_after_a_connect_error(mock_hook):
    script = Script(httpx.ConnectError("refused"), httpx.Response(503), ok(ACTIVITY, 201))
    assert mock_hook(script).create_scheduled_activity(PAYLOAD).id == ACTIVITY["id"]
    assert len(script.requests) == 3


def test_get_gives_up_after_max_attempts(mock_hook):
    script = Script(*[httpx.Response(500, json={"detail": "Server Error"})] * 3)
    with pytest.raises(KizenServerError, match="gave up after 3 attempts"):
        mock_hook(script).get_scheduled_activity("a")
    assert len(script.requests) == 3


def test_validation_error_names_field_and_request_id(mock_hook):
    body = {"due_datetime": ["This field is required."]}
    script = Script(httpx.Response(400, json=body, headers={"X-Request-ID": "abc"}))
    with pytest.raises(KizenValidationError) as raised:
        mock_hook(script).create_scheduled_activity(PAYLOAD)
    assert str(raised.value) == (
        "POST /api/activities/scheduled-activity → 400 (request id abc): "
        "due_datetime: This field is required."
    )


async def test_async_create_get_and_list(mock_hook):
    script = Script(
        ok(ACTIVITY, 201),
        ok(ACTIVITY),
        ok({"count": 1, "next": None, "previous": None, "results": [ACTIVITY]}),
    )
    hook = mock_hook(script)
    created = await hook.acreate_scheduled_activity(PAYLOAD)
    fetched = await hook.aget_scheduled_activity(created.id)
    listed = [a.id async for a in hook.alist_scheduled_activities(search="ada")]
    assert fetched.id == created.id
    assert listed == [created.id]
    assert [r.method for r in script.requests] == ["POST", "GET", "GET"]
    assert script.requests[2].url.params["search"] == "ada"


async def test_async_429_slows_the_whole_pace(mock_hook):
    script = Script(httpx.Response(429, headers={"Retry-After": "0.05"}), ok(ACTIVITY, 201))
    pace = Pace(max_requests_per_second=100)
    await mock_hook(script).acreate_scheduled_activity(PAYLOAD, pace=pace)
    assert len(script.requests) == 2
    assert pace.requests_per_second == 50


async def test_async_unknown_outcome_is_not_resent(mock_hook):
    script = Script(httpx.RemoteProtocolError("Server disconnected"), ok(ACTIVITY, 201))
    with pytest.raises(KizenUnknownOutcomeError):
        await mock_hook(script).acreate_scheduled_activity(PAYLOAD)
    assert len(script.requests) == 1


async def test_async_rate_limit_exhausted(mock_hook):
    script = Script(*[httpx.Response(429, headers={"Retry-After": "0"})] * 2)
    with pytest.raises(KizenRateLimitError):
        await mock_hook(script, RetryPolicy(max_attempts=2)).aget_scheduled_activity("a")


def test_transport_error_after_retries(mock_hook):
    script = Script(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(KizenTransportError, match="could not connect"):
        mock_hook(script).get_scheduled_activity("a")


def test_auth_error(mock_hook):
    script = Script(httpx.Response(401, json={"detail": "Invalid API key."}))
    with pytest.raises(KizenAuthError, match="Invalid API key"):
        mock_hook(script).get_scheduled_activity("a")


def test_the_key_never_reaches_logs_or_errors(mock_hook, caplog, capfd, api_key):
    caplog.set_level(logging.DEBUG)
    script = Script(
        httpx.ConnectError("refused"),
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(400, json={"note": ["Bad."]}),
    )
    hook = mock_hook(script)
    with pytest.raises(KizenValidationError) as raised:
        hook.create_scheduled_activity(PAYLOAD)
    printed = "".join(capfd.readouterr())  # Airflow's structlog writes to the console, not to caplog
    assert "retrying" in printed + caplog.text, "the retries should have been logged"
    for text in [str(raised.value), repr(raised.value), repr(hook.get_config()), printed, caplog.text]:
        assert api_key not in text


async def test_async_retry_after_is_honoured_without_a_pace(mock_hook, mocker):
    # asyncio.sleep is patched for the whole process: the emulator's server loop, running in another
    # thread in this session, keeps its real sleep, and only this thread's sleeps are counted.
    real_sleep, slept = asyncio.sleep, []

    async def sleep(delay: float, *args: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            await real_sleep(delay, *args)
            return
        slept.append(delay)

    mocker.patch("airflow_provider_kizen.hooks.kizen.asyncio.sleep", sleep)
    script = Script(httpx.Response(503, headers={"Retry-After": "2"}), ok(ACTIVITY))
    await mock_hook(script).aget_scheduled_activity("a")
    assert slept == [2.0]


async def test_concurrent_callers_share_one_async_client(kizen_default, mocker):
    parse_connection = mocker.spy(hook_module, "parse_connection")
    hook = KizenHook()
    clients = await asyncio.gather(*(hook.aget_conn() for _ in range(20)))
    assert len({id(client) for client in clients}) == 1
    assert parse_connection.call_count == 1
    await hook.aclose()
    assert clients[0].is_closed


def test_each_event_loop_gets_its_own_async_client(kizen_default):
    hook = KizenHook()

    async def client_of_this_loop() -> httpx.AsyncClient:
        return await hook.aget_conn()

    first = asyncio.run(client_of_this_loop())
    second = asyncio.run(client_of_this_loop())
    assert first is not second


async def test_reads_leave_no_garbage_cycles_behind(mock_hook):
    """Each response would otherwise stay in a cycle with its stream until the cyclic collector runs;
    thousands of those make a trigger's event loop stall in full collections."""
    hook = mock_hook(lambda request: ok(ACTIVITY))
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collector finds, to look at it
    try:
        for _ in range(20):
            await hook.aget_scheduled_activity(ACTIVITY["id"])
            hook.get_scheduled_activity(ACTIVITY["id"])
        gc.collect()
        # Only this test's responses count: other threads of the test process may leave garbage too.
        ours = [
            item
            for item in gc.garbage
            if isinstance(item, httpx.Response) and item.request.url.host == "kizen.example"
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert ours == []


async def test_wait_pages_are_plain_dicts_the_garbage_collector_never_tracks(mock_hook):
    """A page of 1,000 models kept the collector busy moving them into the oldest generation, and a
    triggerer reading page after page paused for full collections."""
    page = {
        "next": None,
        "results": [ACTIVITY, {**ACTIVITY, "id": "b", "completed_at": "2026-03-02T10:00:00Z"}],
    }
    hook = mock_hook(lambda request: ok(page))
    pages = [listed async for listed in hook.alist_scheduled_activity_pages(ActivityStatus, completed=False)]
    sync_pages = list(hook.list_scheduled_activity_pages(ActivityStatus))

    assert pages == sync_pages
    (statuses,) = pages
    assert statuses[0] == {
        "id": ACTIVITY["id"],
        "due_datetime": datetime(2026, 3, 2, 9, tzinfo=UTC),
        "completed_at": None,
        "logged_activity_id": None,
    }
    assert [is_completed(status) for status in statuses] == [False, True]
    assert not any(gc.is_tracked(status) for status in statuses)


def test_a_page_that_is_not_one_fails_naming_what_is_wrong(mock_hook):
    hook = mock_hook(lambda request: ok({"next": None, "results": [{"due_datetime": "soon"}]}))
    with pytest.raises(KizenHTTPError, match=r"not a scheduled activity \(id: Field required; due_datetime"):
        list(hook.list_scheduled_activity_pages(ActivityStatus))
