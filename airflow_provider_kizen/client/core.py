"""The sans-IO request core: build requests, classify responses, decide retries.

The sync and async transports in the hook only send what `build_request` made and loop on what
`RetryCall` decides, so both behave identically:

- Any method is retried after a 429, a 503, or an error raised before the request was written
  (connect errors, connect and pool timeouts): Kizen certainly processed nothing.
- GET, PATCH and DELETE are also retried after other 5xx and any other network error. Sending one of
  them twice leaves Kizen as sending it once: a GET changes nothing, the provider's PATCH bodies carry
  absolute values (a due time, a note), never increments, and a DELETE of a deleted activity deletes
  nothing more.
- A DELETE answered 404 after an earlier attempt that may have reached Kizen is done: that attempt
  deleted the activity. A 404 on the first attempt is an error (it was never there, or is not visible).
- A POST that met a read timeout, a dropped connection, a 500, a 502 or a 504 may have created the
  record (nothing says Kizen rolls a 500 back: it may have failed after its commit).
  Re-sending it could create a duplicate, so it raises `KizenUnknownOutcomeError` for the caller to
  reconcile.
- A response that breaks one of the connection's limits (``client.limits``) is not retried: the same
  response would break it again. For a POST it is an unknown outcome like any other lost answer.

Whatever text a server sends (messages, field errors, body excerpts, reason phrases, malformed header
lines) is redacted of the request's credentials before it becomes part of an error (``client.redaction``).
"""

from __future__ import annotations

import functools
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_provider_kizen import __version__
from airflow_provider_kizen.client.config import KizenConnectionConfig
from airflow_provider_kizen.client.errors import (
    KizenError,
    KizenHTTPError,
    KizenLimitError,
    KizenRateLimitError,
    KizenTransportError,
    KizenUnknownOutcomeError,
    http_error_class,
    parse_drf_error,
)
from airflow_provider_kizen.client.limits import ACCEPT_ENCODING, ResponseLimitExceeded
from airflow_provider_kizen.client.policy import RetryPolicy, parse_retry_after
from airflow_provider_kizen.client.redaction import redact, redact_field_errors, request_secrets

REQUEST_ID_HEADER = "X-Request-ID"
USER_AGENT = f"airflow-provider-kizen/{__version__}"
# Statuses after which Kizen certainly did not process the request, so even a POST may be re-sent.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Statuses after which a POST may or may not have been processed: a server error that may have come
# after the commit, or a proxy that lost the upstream answer.
UNKNOWN_OUTCOME_STATUSES = frozenset({500, 502, 504})
# Network errors raised before any byte of the request was written.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)
_BODY_EXCERPT_CHARS = 200
# What an error keeps of a server's message and field errors: enough to act on, small enough for XCom.
_MESSAGE_CHARS = 1000
_FIELDS_KEPT = 20
_FIELD_MESSAGE_CHARS = 300


def build_request(
    config: KizenConnectionConfig,
    method: str,
    path: str,
    params: Mapping[str, str | int] | None = None,
    json: Any = None,
) -> httpx.Request:
    """A request to `path` (like ``/api/activities/scheduled-activity``) with the three auth headers.

    `json` is the body: a value to encode, or `bytes` already encoded as JSON (a validated write
    keeps its body encoded, so it is not decoded only to be encoded again).

    :raises ValueError: for a path without a leading slash or with a trailing one (Kizen answers an
        HTML 404 to some routes with a trailing slash).
    """
    if not path.startswith("/") or (path != "/" and path.endswith("/")):
        raise ValueError(f"Kizen paths start with '/' and have no trailing slash: {path!r}")
    url = _url(config.base_url + path)
    if isinstance(json, bytes):
        return httpx.Request(method.upper(), url, params=params, content=json, headers=_headers(config, True))
    return httpx.Request(method.upper(), url, params=params, json=json, headers=_headers(config))


# Parsing a URL and normalising headers cost more CPU than the rest of a request's set-up; a batch
# sends thousands of requests to one address with one set of headers, so both are parsed once.
@functools.lru_cache(maxsize=64)
def _url(url: str) -> httpx.URL:
    return httpx.URL(url)


@functools.lru_cache(maxsize=16)
def _headers(config: KizenConnectionConfig, json_body: bool = False) -> httpx.Headers:
    return httpx.Headers(
        {
            "X-BUSINESS-ID": config.business_id,
            "X-USER-ID": config.user_id,
            "X-API-KEY": config.api_key,
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": USER_AGENT,
            **({"Content-Type": "application/json"} if json_body else {}),
        }
    )


def encode_filters(filters: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters from Python values: bools as true/false, lists as comma lists, datetimes as ISO."""
    params: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, datetime | date):
            params[name] = value.isoformat()
        elif isinstance(value, list | tuple | set | frozenset):
            params[name] = ",".join(str(item) for item in value)
        else:
            params[name] = str(value)
    return params


class Pages:
    """Where a listing goes next: the path and query of each page's `next` link, within bounds.

    Only the path and query of a link are taken, so the API key only ever goes to the configured host,
    even if Kizen (or a proxy in front of it) names another host in the link. A link already followed,
    or a page past the connection's ``max_pages``, ends the listing with a KizenLimitError rather than
    an endless loop.
    """

    def __init__(self, config: KizenConnectionConfig, path: str, params: Mapping[str, str]) -> None:
        self.config = config
        self.path = path
        self.params: httpx.QueryParams = httpx.QueryParams(params)
        self.count = 1
        self._seen = {self._where(path, self.params)}

    def follow(self, next_url: str) -> None:
        """Move to the page `next_url` names."""
        parts = urlsplit(next_url)
        prefix = urlsplit(self.config.base_url).path
        path = parts.path
        if prefix and not path.startswith(prefix + "/"):
            path = prefix + path
        path, params = path[len(prefix) :], httpx.QueryParams(parts.query)
        where = self._where(path, params)
        if where in self._seen:
            raise KizenLimitError(
                f"page {self.count}'s next link leads back to a page already read; the listing stopped "
                "instead of looping",
                method="GET",
                path=path,
                limit="next",
            )
        self.count += 1
        if self.count > self.config.limits.max_pages:
            raise KizenLimitError(
                f"the listing has more than {self.config.limits.max_pages:,} pages (connection extra "
                "max_pages); narrow it with filters or raise the limit",
                method="GET",
                path=path,
                limit="max_pages",
            )
        self._seen.add(where)
        self.path, self.params = path, params

    @staticmethod
    def _where(path: str, params: httpx.QueryParams) -> str:
        return f"{path}?{'&'.join(sorted(f'{key}={value}' for key, value in params.multi_items()))}"


def split_page(body: Any, response: httpx.Response) -> tuple[list[Any], str | None]:
    """The results and the `next` link of one page of a list endpoint."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise KizenHTTPError(
            "expected a page like {count, next, previous, results} from a list endpoint",
            **_response_facts(response),
        )
    next_url = body.get("next")
    return body["results"], next_url if isinstance(next_url, str) and next_url else None


def decode_json(response: httpx.Response) -> Any:
    """The JSON body of a successful response.

    :raises KizenHTTPError: when the body is not JSON, which usually means the base URL points at a web
        page rather than at Kizen's API.
    """
    try:
        return response.json()
    except ValueError:
        kind = _server_text(response, response.headers.get("Content-Type", "no content type"))
        raise KizenHTTPError(
            f"expected JSON from Kizen but got {kind}: {_excerpt(response)!r}. "
            "Check that the Base URL points at Kizen's API (for example https://app.go.kizen.com).",
            **_response_facts(response),
        ) from None


def unexpected_body(response: httpx.Response, expected: str, problems: str) -> KizenHTTPError:
    """The error for a successful response whose JSON is not what the endpoint returns.

    It quotes the problems found, never the body: a body is server text of any size.
    """
    return KizenHTTPError(
        f"Kizen answered {response.status_code}, but the body is not {expected} ({problems})",
        **_response_facts(response),
    )


def error_from_response(response: httpx.Response, *, retry_after: float | None = None) -> KizenHTTPError:
    """The KizenHTTPError subclass for a non-2xx response, with Kizen's message and field errors."""
    secrets = request_secrets(response.request)
    try:
        message, field_errors = parse_drf_error(response.json())
    except ValueError:
        message, field_errors = _excerpt(response), {}
    error_class = http_error_class(response.status_code)
    kept = dict(list(field_errors.items())[:_FIELDS_KEPT])
    kwargs: dict[str, Any] = {
        **_response_facts(response),
        "field_errors": {
            name: [_clip(text, _FIELD_MESSAGE_CHARS) for text in texts]
            for name, texts in redact_field_errors(kept, secrets).items()
        },
    }
    if error_class is KizenRateLimitError:
        kwargs["retry_after"] = retry_after
    message = redact(message or response.reason_phrase or "no message", secrets)
    return error_class(_clip(message, _MESSAGE_CHARS), **kwargs)


@dataclass(frozen=True)
class Done:
    """The response to hand to the caller."""

    response: httpx.Response


@dataclass(frozen=True)
class Retry:
    """Send the same request again after `delay_seconds`.

    `rate_limited` is set after a 429, so that a batch `Pace` can slow every request down;
    `retry_after` is Kizen's Retry-After in seconds, if it sent one.
    """

    delay_seconds: float
    rate_limited: bool = False
    retry_after: float | None = None


class RetryCall:
    """The retry decision for one logical request: counts attempts and elapsed time across them."""

    def __init__(
        self,
        policy: RetryPolicy,
        request: httpx.Request,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy
        self.request = request
        self.attempts = 0
        # Whether an earlier attempt may have been processed by Kizen, though its answer was lost.
        self.maybe_processed = False
        self.last_failure = ""  # what went wrong in the latest attempt, for the transport's retry log line
        self._clock = clock
        self._rng = rng
        self._started = clock()

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def _is_post(self) -> bool:
        return self.method == "POST"

    def after_response(self, response: httpx.Response) -> Done | Retry:
        """Decide after an attempt got a response. Raises the final KizenHTTPError when giving up."""
        self.attempts += 1
        status = response.status_code
        if status < 300:
            return Done(response)
        if status == 404 and self.method == "DELETE" and self.maybe_processed:
            return Done(response)  # an earlier attempt deleted it
        if status < 400:
            raise KizenHTTPError(
                f"Kizen redirected to {_redirect_target(response)}; redirects are not followed because "
                "they could carry the API key elsewhere. Set the Base URL to the address the API really "
                "answers on.",
                **_response_facts(response),
            )
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = error_from_response(response, retry_after=retry_after)
        self.last_failure = _server_text(response, f"{status} {response.reason_phrase}".strip())
        if self._is_post and status in UNKNOWN_OUTCOME_STATUSES:
            raise KizenUnknownOutcomeError(
                f"Kizen answered {self.last_failure}; the activity may or may not have been "
                "created, so the request was not re-sent",
                status=status,
                method=self.method,
                path=self.path,
                request_id=error.request_id,
            )
        retryable = status in NOT_PROCESSED_STATUSES or (not self._is_post and status >= 500)
        if not retryable:
            raise error
        self.maybe_processed |= status not in NOT_PROCESSED_STATUSES
        delay = retry_after if retry_after is not None else self._backoff()
        return self._retry_or_raise(Retry(delay, rate_limited=status == 429, retry_after=retry_after), error)

    def after_transport_error(self, exc: httpx.TransportError) -> Retry:
        """Decide after an attempt failed in the network. Raises the final KizenError when giving up."""
        self.attempts += 1
        reason = describe_transport_error(exc)  # the only trace of `exc` kept: redacted
        self.last_failure = reason
        not_sent = isinstance(exc, NOT_SENT_ERRORS)
        self.maybe_processed |= not not_sent
        if self._is_post and not not_sent:
            raise KizenUnknownOutcomeError(
                f"{reason}; the activity may or may not have been created, so the request was not re-sent",
                method=self.method,
                path=self.path,
            ) from None
        if isinstance(exc, ResponseLimitExceeded):
            raise KizenLimitError(reason, method=self.method, path=self.path, limit=exc.limit) from None
        error = KizenTransportError(reason, method=self.method, path=self.path)
        if is_tls_failure(exc) or isinstance(exc, httpx.UnsupportedProtocol):
            raise error from None  # retrying cannot fix a certificate or a URL
        return self._retry_or_raise(Retry(self._backoff()), error)

    def _backoff(self) -> float:
        return self.policy.backoff_seconds(self.attempts, self._rng)

    def _retry_or_raise(self, retry: Retry, error: KizenError) -> Retry:
        elapsed = self._clock() - self._started
        if self.attempts >= self.policy.max_attempts:
            error.message += f" (gave up after {self.attempts} attempts)"
        elif elapsed + retry.delay_seconds > self.policy.max_elapsed_seconds:
            error.message += (
                f" (gave up after {self.attempts} attempts: waiting {retry.delay_seconds:.1f} s more would "
                f"pass the {self.policy.max_elapsed_seconds:g} s retry budget)"
            )
        else:
            return retry
        # Not chained to the network error: its text may quote the server's bytes, unredacted.
        raise error from None


def is_tls_failure(exc: BaseException) -> bool:
    """True when a certificate or TLS handshake failed somewhere in the exception chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe_transport_error(exc: httpx.TransportError) -> str:
    """A message naming the kind of network failure in words a user can act on."""
    host = exc.request.url.host if _has_request(exc) else "Kizen"
    # A malformed reply's bytes appear in some messages (h11 quotes a bad header line): redact them.
    detail = redact(str(exc), request_secrets(exc.request)) if _has_request(exc) else str(exc)
    detail = detail or type(exc).__name__
    if isinstance(exc, ResponseLimitExceeded):
        return detail
    if is_tls_failure(exc):
        return (
            f"TLS handshake with {host} failed ({detail}); check the Base URL's scheme and port, and if "
            "the server's certificate comes from a private CA, set the extra ca_bundle to its CA bundle file"
        )
    if isinstance(exc, httpx.ConnectError) and _is_dns_failure(detail):
        return f"could not resolve the host {host} ({detail}); check the Base URL"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return f"could not connect to {host} ({detail})"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out waiting for {host} ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{host} closed the connection without a complete reply ({detail})"
    return f"network error talking to {host}: {type(exc).__name__}: {detail}"


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - httpx raises RuntimeError when no request is attached
    except RuntimeError:
        return False
    return True


def _is_dns_failure(detail: str) -> bool:
    markers = (
        "Name or service not known",
        "nodename nor servname",
        "Temporary failure in name resolution",
        "No address associated",
        "getaddrinfo failed",
    )
    return any(marker in detail for marker in markers)


def _response_facts(response: httpx.Response) -> dict[str, Any]:
    """What every error about `response` names: its status, method, path and request id."""
    return {
        "status": response.status_code,
        "method": response.request.method,
        "path": response.request.url.path,
        "request_id": response.headers.get(REQUEST_ID_HEADER),
    }


def _server_text(response: httpx.Response, text: str) -> str:
    return redact(text, request_secrets(response.request))


def _excerpt(response: httpx.Response) -> str:
    """The start of a body, on one line and redacted (redacted whole first, so no secret is cut in two)."""
    return _clip(" ".join(_server_text(response, response.text).split()), _BODY_EXCERPT_CHARS)


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars] + "…"


def _redirect_target(response: httpx.Response) -> str:
    """Scheme, host and path of a redirect's Location: its query or user info may hold anything."""
    location = response.headers.get("Location")
    if not location:
        return "another address"
    parts = urlsplit(location)
    target = f"{parts.scheme}://{parts.hostname}{parts.path}" if parts.hostname else parts.path
    return _server_text(response, target) or "another address"
