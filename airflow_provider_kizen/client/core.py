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
- A POST that met a read timeout, a dropped connection, a 502 or a 504 may have created the record.
  Re-sending it could create a duplicate, so it raises `KizenUnknownOutcomeError` for the caller to
  reconcile.
"""

from __future__ import annotations

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
    KizenRateLimitError,
    KizenTransportError,
    KizenUnknownOutcomeError,
    http_error_class,
    parse_drf_error,
)
from airflow_provider_kizen.client.policy import RetryPolicy, parse_retry_after

REQUEST_ID_HEADER = "X-Request-ID"
USER_AGENT = f"airflow-provider-kizen/{__version__}"
# Statuses after which Kizen certainly did not process the request, so even a POST may be re-sent.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Statuses after which a POST may or may not have been processed (a proxy lost the upstream answer).
UNKNOWN_OUTCOME_STATUSES = frozenset({502, 504})
# Network errors raised before any byte of the request was written.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)
_BODY_EXCERPT_CHARS = 200


def build_request(
    config: KizenConnectionConfig,
    method: str,
    path: str,
    params: Mapping[str, str | int] | None = None,
    json: Any = None,
) -> httpx.Request:
    """A request to `path` (like ``/api/activities/scheduled-activity``) with the three auth headers.

    :raises ValueError: for a path without a leading slash or with a trailing one (Kizen answers an
        HTML 404 to some routes with a trailing slash).
    """
    if not path.startswith("/") or (path != "/" and path.endswith("/")):
        raise ValueError(f"Kizen paths start with '/' and have no trailing slash: {path!r}")
    headers = {
        "X-BUSINESS-ID": config.business_id,
        "X-USER-ID": config.user_id,
        "X-API-KEY": config.api_key,
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    return httpx.Request(method.upper(), config.base_url + path, params=params, json=json, headers=headers)


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


def next_page(config: KizenConnectionConfig, next_url: str) -> tuple[str, httpx.QueryParams]:
    """The path and query of a pagination `next` link, to be sent to the configured base URL.

    Only the path and query are taken, so the API key only ever goes to the configured host, even if
    Kizen (or a proxy in front of it) names another host in the link.
    """
    parts = urlsplit(next_url)
    prefix = urlsplit(config.base_url).path
    path = parts.path
    if prefix and not path.startswith(prefix + "/"):
        path = prefix + path
    return path[len(prefix) :], httpx.QueryParams(parts.query)


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
        kind = response.headers.get("Content-Type", "no content type")
        raise KizenHTTPError(
            f"expected JSON from Kizen but got {kind}: {_excerpt(response.text)!r}. "
            "Check that the Base URL points at Kizen's API (for example https://app.go.kizen.com).",
            **_response_facts(response),
        ) from None


def error_from_response(response: httpx.Response, *, retry_after: float | None = None) -> KizenHTTPError:
    """The KizenHTTPError subclass for a non-2xx response, with Kizen's message and field errors."""
    try:
        message, field_errors = parse_drf_error(response.json())
    except ValueError:
        message, field_errors = _excerpt(response.text), {}
    error_class = http_error_class(response.status_code)
    kwargs: dict[str, Any] = {**_response_facts(response), "field_errors": field_errors}
    if error_class is KizenRateLimitError:
        kwargs["retry_after"] = retry_after
    return error_class(message or response.reason_phrase or "no message", **kwargs)


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
                f"Kizen redirected to {response.headers.get('Location', 'another address')}; redirects are "
                "not followed because they could carry the API key elsewhere. Set the Base URL to the "
                "address the API really answers on.",
                **_response_facts(response),
            )
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = error_from_response(response, retry_after=retry_after)
        self.last_failure = f"{status} {response.reason_phrase}".strip()
        if self._is_post and status in UNKNOWN_OUTCOME_STATUSES:
            raise KizenUnknownOutcomeError(
                f"Kizen answered {status} {response.reason_phrase}; the activity may or may not have been "
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
        reason = describe_transport_error(exc)
        self.last_failure = reason
        not_sent = isinstance(exc, NOT_SENT_ERRORS)
        self.maybe_processed |= not not_sent
        if self._is_post and not not_sent:
            raise KizenUnknownOutcomeError(
                f"{reason}; the activity may or may not have been created, so the request was not re-sent",
                method=self.method,
                path=self.path,
            ) from exc
        error = KizenTransportError(reason, method=self.method, path=self.path)
        if is_tls_failure(exc) or isinstance(exc, httpx.UnsupportedProtocol):
            raise error from exc  # retrying cannot fix a certificate or a URL
        return self._retry_or_raise(Retry(self._backoff()), error, cause=exc)

    def _backoff(self) -> float:
        return self.policy.backoff_seconds(self.attempts, self._rng)

    def _retry_or_raise(self, retry: Retry, error: KizenError, cause: BaseException | None = None) -> Retry:
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
        raise error from cause


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
    detail = str(exc) or type(exc).__name__
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


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_EXCERPT_CHARS else text[:_BODY_EXCERPT_CHARS] + "…"
