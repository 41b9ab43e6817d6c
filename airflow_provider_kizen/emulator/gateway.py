"""The ASGI layer in front of the Kizen routes: request ids, the request log, faults, slashes and auth.

It is plain ASGI rather than Starlette middleware because it sits on every request of the hot path,
and because a fault may have to run the request and then throw its response away.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.emulator.faults import Decision, FaultInjector, FaultRule, Outcome
from airflow_provider_kizen.emulator.profiles import ActiveProfile

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/_emulator/"
REQUEST_LOG_LIMIT = 100_000

# Django's page for an unknown URL, which is what a trailing slash reaches on Kizen.
HTML_404 = (
    b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
    b"  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n"
)
_HTML_ERRORS = {
    500: b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n'
    b"<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n",
    502: b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
    503: b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n",
}
_OUTCOME_STATUS = {Outcome.ERROR_500: 500, Outcome.ERROR_502: 502, Outcome.ERROR_503: 503}
_MISSING_CREDENTIALS = {
    "detail": "Authentication credentials were not provided.",
    "code": "not_authenticated",
}
_BAD_CREDENTIALS = {"detail": "Invalid API key.", "code": "authentication_failed"}
_FORBIDDEN = {"detail": "You do not have permission to perform this action.", "code": "permission_denied"}


class RequestLog:
    """What arrived at the Kizen paths, oldest first; bounded so a long benchmark cannot exhaust memory."""

    def __init__(self) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)

    def add(self, entry: dict[str, Any]) -> None:
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def read(self, path_prefix: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "method": entry["method"],
                "path": entry["path"],
                "query": dict(parse_qsl(entry["query"].decode("latin-1"), keep_blank_values=True)),
                "status": entry["status"],
                "body": _parse_json(entry["body"]),
                "request_id": entry["request_id"],
                "fault": entry["fault"],
            }
            for entry in self._entries
            if path_prefix is None or entry["path"].startswith(path_prefix)
        ]


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


Headers = tuple[tuple[bytes, bytes], ...]


async def send_simple(
    send: Send, status: int, body: bytes, content_type: bytes, extra_headers: Headers = ()
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any, extra_headers: Headers = ()) -> None:
    await send_simple(send, status, json.dumps(payload).encode(), b"application/json", extra_headers)


def _retry_after(seconds: float) -> bytes:
    # HTTP wants whole seconds; a fractional value is kept so that tests can run fast.
    return format(seconds, "g").encode()


class KizenGateway:
    """Wraps the FastAPI app: control-plane paths pass straight through, Kizen paths get everything."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        faults: FaultInjector,
        profile: ActiveProfile,
        request_log: RequestLog,
        new_request_id: Callable[[], str],
        drop_connection: Callable[[Scope], Awaitable[None]],
    ) -> None:
        self._app = app
        self._faults = faults
        self._profile = profile
        self._log = request_log
        self._new_request_id = new_request_id
        self._drop_connection = drop_connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self._app(scope, receive, send)
            return
        body = await _read_body(receive)
        request_id = self._new_request_id()
        entry = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"],
            "status": None,
            "body": body,
            "request_id": request_id,
            "fault": None,
        }
        self._log.add(entry)
        request_id_header = (b"x-request-id", request_id.encode())

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), request_id_header]
                entry["status"] = message["status"]
            await send(message)

        body_sent = False

        async def replay_body() -> Message:
            nonlocal body_sent
            if body_sent:
                return await receive()
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        rule = self._faults.rule_for(scope["path"])
        if rule is None:
            await self._handle(scope, replay_body, send_with_request_id)
            return
        if rule.at_capacity():
            entry["fault"] = Outcome.OVER_CAPACITY.value
            await self._throttle(rule, send_with_request_id)
            return
        rule.in_flight += 1
        try:
            decision = rule.decide(commit_on_500=self._profile.current.commit_on_500)
            await self._with_fault(rule, decision, entry, scope, replay_body, send_with_request_id)
        finally:
            rule.in_flight -= 1

    async def _with_fault(
        self,
        rule: FaultRule,
        decision: Decision,
        entry: dict[str, Any],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if decision.delay_seconds:
            await asyncio.sleep(decision.delay_seconds)
        if decision.outcome is Outcome.PASS:
            await self._handle(scope, receive, send)
            return
        entry["fault"] = decision.outcome.value
        if decision.process_first:
            await self._handle(scope, receive, _discard)
        if decision.outcome is Outcome.THROTTLED:
            await self._throttle(rule, send)
        elif decision.outcome is Outcome.COMMIT_THEN_DROP:
            entry["status"] = None
            await self._drop_connection(scope)
        else:
            status = _OUTCOME_STATUS[decision.outcome]
            await send_simple(send, status, _HTML_ERRORS[status], b"text/html; charset=utf-8")

    @staticmethod
    async def _throttle(rule: FaultRule, send: Send) -> None:
        seconds = rule.settings.retry_after_seconds
        payload = {
            "detail": f"Request was throttled. Expected available in {seconds:g} seconds.",
            "code": "throttled",
        }
        await send_json(send, 429, payload, ((b"retry-after", _retry_after(seconds)),))

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What Kizen itself does: URL resolution (a trailing slash is unknown), then auth, then the view."""
        if scope["path"].endswith("/"):
            await send_simple(send, 404, HTML_404, b"text/html; charset=utf-8")
            return
        problem = _auth_problem(scope["headers"])
        if problem is not None:
            status, payload = problem
            extra: Headers = ((b"www-authenticate", b'Api-Key realm="api"'),) if status == 401 else ()
            await send_json(send, status, payload, extra)
            return
        await self._app(scope, receive, send)


async def _discard(message: Message) -> None:
    """A `send` that throws the response away: the request ran, the client will not hear of it."""


def _auth_problem(headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, str]] | None:
    api_key = business_id = user_id = None
    for name, value in headers:
        if name == b"x-api-key":
            api_key = value
        elif name == b"x-business-id":
            business_id = value
        elif name == b"x-user-id":
            user_id = value
    if api_key is None or business_id is None or user_id is None:
        return 401, _MISSING_CREDENTIALS
    if business_id.decode("latin-1") != seed.BUSINESS_ID:
        return 403, _FORBIDDEN
    if api_key.decode("latin-1") != seed.API_KEY or user_id.decode("latin-1") != seed.USER_ID:
        return 401, _BAD_CREDENTIALS
    return None
