from __future__ import annotations

import dataclasses
import ssl
from datetime import UTC, datetime

import httpx
import pytest

from airflow_provider_kizen.client.config import KizenConnectionConfig
from airflow_provider_kizen.client.core import (
    Done,
    Pages,
    Retry,
    RetryCall,
    build_request,
    decode_json,
    describe_transport_error,
    encode_filters,
    split_page,
)
from airflow_provider_kizen.client.errors import (
    KizenHTTPError,
    KizenLimitError,
    KizenRateLimitError,
    KizenServerError,
    KizenTransportError,
    KizenUnknownOutcomeError,
    KizenValidationError,
)
from airflow_provider_kizen.client.limits import ResponseLimits
from airflow_provider_kizen.client.policy import RetryPolicy

API_KEY = "kz-core-test-key-5d1e0c"
CONFIG = KizenConnectionConfig(
    base_url="https://kizen.example", business_id="biz-1", user_id="user-1", api_key=API_KEY
)
PATH = "/api/activities/scheduled-activity"
NO_JITTER = RetryPolicy(max_attempts=4, backoff_initial_seconds=1, jitter=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def call_for(method: str, policy: RetryPolicy = NO_JITTER, clock: FakeClock | None = None) -> RetryCall:
    return RetryCall(policy, build_request(CONFIG, method, PATH), clock=clock or FakeClock())


def reply(call: RetryCall, status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json=body if body is not None else {}, headers=headers, request=call.request
    )


def test_build_request_adds_the_three_auth_headers():
    request = build_request(CONFIG, "post", PATH, params={"page_size": 1}, json={"note": "hi"})
    assert request.method == "POST"
    assert str(request.url) == "https://kizen.example/api/activities/scheduled-activity?page_size=1"
    assert request.headers["X-API-KEY"] == API_KEY
    assert request.headers["X-BUSINESS-ID"] == "biz-1"
    assert request.headers["X-USER-ID"] == "user-1"
    assert request.content == b'{"note":"hi"}'


@pytest.mark.parametrize("path", [PATH + "/", "api/activities", ""])
def test_build_request_refuses_bad_paths(path):
    with pytest.raises(ValueError, match="trailing slash"):
        build_request(CONFIG, "GET", path)


def test_encode_filters():
    assert encode_filters(
        {
            "completed": False,
            "assigned_to_me": True,
            "employee_ids": ["a", "b"],
            "from_date": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
            "page_size": 50,
            "search": None,
        }
    ) == {
        "completed": "false",
        "assigned_to_me": "true",
        "employee_ids": "a,b",
        "from_date": "2026-01-02T03:04:00+00:00",
        "page_size": "50",
    }


def test_next_page_keeps_only_path_and_query():
    pages = Pages(CONFIG, PATH, {"search": "x"})
    pages.follow("http://elsewhere.example:9999/api/activities/scheduled-activity?page=2&search=x")
    assert pages.path == PATH
    assert dict(pages.params) == {"page": "2", "search": "x"}


def test_next_page_under_a_base_url_with_a_path_prefix():
    config = KizenConnectionConfig(
        base_url="https://proxy.example/kizen", business_id="b", user_id="u", api_key="k"
    )
    pages = Pages(config, PATH, {})
    pages.follow("https://proxy.example/kizen/api/activities/scheduled-activity?page=2")
    assert pages.path == PATH
    request = build_request(config, "GET", pages.path)
    assert request.url.path == "/kizen" + PATH


@pytest.mark.parametrize(
    "links",
    [
        ["/api/activities/scheduled-activity?search=x"],  # back to the first page
        ["?page=2&search=x", "?search=x&page=2"],  # the same page, its query reordered
        ["?page=2", "?page=3", "?page=2"],
    ],
)
def test_a_next_link_that_leads_back_stops_the_listing(links):
    pages = Pages(CONFIG, PATH, {"search": "x"})
    urls = [f"https://kizen.example{PATH}{link}" if link.startswith("?") else link for link in links]
    for url in urls[:-1]:
        pages.follow(url)
    with pytest.raises(KizenLimitError, match="leads back to a page already read") as caught:
        pages.follow(urls[-1])
    assert caught.value.limit == "next"


def test_a_listing_stops_after_max_pages():
    config = dataclasses.replace(CONFIG, limits=ResponseLimits(max_pages=3))
    pages = Pages(config, PATH, {})
    pages.follow(f"{PATH}?page=2")
    pages.follow(f"{PATH}?page=3")
    with pytest.raises(KizenLimitError, match=r"more than 3 pages \(connection extra max_pages\)"):
        pages.follow(f"{PATH}?page=4")
    assert pages.count == 4


def test_success_is_done():
    call = call_for("POST")
    response = reply(call, 201, {"id": "a1"})
    assert call.after_response(response) == Done(response)


def test_a_redirect_is_not_followed_and_says_why():
    call = call_for("GET")
    response = httpx.Response(301, headers={"Location": "https://login.example/"}, request=call.request)
    with pytest.raises(
        KizenHTTPError, match=r"redirected to https://login\.example/.*Set the Base URL"
    ) as raised:
        call.after_response(response)
    assert raised.value.status == 301


def test_429_is_retried_after_its_retry_after_even_for_post():
    call = call_for("POST")
    decision = call.after_response(reply(call, 429, {"detail": "Slow down."}, **{"Retry-After": "7"}))
    assert decision == Retry(7.0, rate_limited=True, retry_after=7.0)


def test_429_with_http_date_retry_after():
    call = call_for("GET")
    when = datetime.now(UTC).replace(microsecond=0)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    decision = call.after_response(reply(call, 429, **{"Retry-After": header}))
    assert isinstance(decision, Retry)
    assert decision.delay_seconds <= 1.0


def test_503_post_is_retried_with_backoff():
    call = call_for("POST")
    assert call.after_response(reply(call, 503)) == Retry(1.0)
    assert call.after_response(reply(call, 503)) == Retry(2.0)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_post_with_unknown_outcome_is_not_retried(status):
    call = call_for("POST")
    with pytest.raises(KizenUnknownOutcomeError, match="may or may not have been created") as raised:
        call.after_response(reply(call, status, **{"X-Request-ID": "req-9"}))
    assert raised.value.status == status
    assert raised.value.request_id == "req-9"
    assert raised.value.method == "POST"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_get_retries_every_5xx(status):
    call = call_for("GET")
    assert isinstance(call.after_response(reply(call, status)), Retry)


def test_400_raises_the_parsed_validation_error():
    call = call_for("POST")
    body = {"due_datetime": ["This field is required."]}
    with pytest.raises(KizenValidationError) as raised:
        call.after_response(reply(call, 400, body, **{"X-Request-ID": "abc"}))
    assert str(raised.value) == f"POST {PATH} → 400 (request id abc): due_datetime: This field is required."
    assert raised.value.field_errors == body


def test_attempt_cap():
    call = call_for("GET", RetryPolicy(max_attempts=3, backoff_initial_seconds=0, jitter=0))
    call.after_response(reply(call, 500))
    call.after_response(reply(call, 500))
    with pytest.raises(KizenServerError, match="gave up after 3 attempts"):
        call.after_response(reply(call, 500))


def test_total_time_cap():
    clock = FakeClock()
    call = call_for(
        "GET",
        RetryPolicy(max_attempts=10, max_elapsed_seconds=10, backoff_initial_seconds=4, jitter=0),
        clock,
    )
    assert call.after_response(reply(call, 503)) == Retry(4.0)
    clock.now = 5.0
    with pytest.raises(KizenServerError, match="10 s retry budget"):
        call.after_response(reply(call, 503))  # the next delay, 8 s, would end at 13 s


def test_retry_after_beyond_the_budget_gives_up_with_it():
    call = call_for("POST", RetryPolicy(max_elapsed_seconds=30))
    with pytest.raises(KizenRateLimitError) as raised:
        call.after_response(reply(call, 429, **{"Retry-After": "120"}))
    assert raised.value.retry_after == 120.0
    assert raised.value.status == 429


def transport_error(error_class: type[httpx.TransportError], call: RetryCall, message: str = "boom"):
    return error_class(message, request=call.request)


@pytest.mark.parametrize("error_class", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_post_is_retried_when_nothing_was_sent(error_class):
    call = call_for("POST")
    assert call.after_transport_error(transport_error(error_class, call)) == Retry(1.0)


@pytest.mark.parametrize(
    "error_class", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteTimeout]
)
def test_post_is_not_retried_when_it_may_have_arrived(error_class):
    call = call_for("POST")
    with pytest.raises(KizenUnknownOutcomeError, match="may or may not have been created"):
        call.after_transport_error(transport_error(error_class, call))


@pytest.mark.parametrize("error_class", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ConnectError])
def test_get_is_retried_after_any_transient_network_error(error_class):
    call = call_for("GET")
    assert isinstance(call.after_transport_error(transport_error(error_class, call)), Retry)


def test_network_retries_exhausted():
    call = call_for("GET", RetryPolicy(max_attempts=2, backoff_initial_seconds=0))
    call.after_transport_error(transport_error(httpx.ConnectError, call))
    with pytest.raises(KizenTransportError, match=r"could not connect to kizen\.example"):
        call.after_transport_error(transport_error(httpx.ConnectError, call))


def test_tls_failure_is_not_retried_and_says_what_to_do():
    call = call_for("GET")
    exc = transport_error(
        httpx.ConnectError, call, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    exc.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    with pytest.raises(KizenTransportError, match="ca_bundle"):
        call.after_transport_error(exc)


def test_dns_failure_is_described():
    call = call_for("GET")
    exc = transport_error(httpx.ConnectError, call, "[Errno -2] Name or service not known")
    assert "could not resolve the host kizen.example" in describe_transport_error(exc)


def test_decode_json_explains_a_non_json_reply():
    call = call_for("GET")
    response = httpx.Response(
        200, text="<html>Sign in</html>", headers={"Content-Type": "text/html"}, request=call.request
    )
    with pytest.raises(KizenHTTPError, match=r"expected JSON from Kizen but got text/html.*Base URL"):
        decode_json(response)


def test_split_page():
    call = call_for("GET")
    response = reply(call, 200)
    assert split_page({"count": 1, "next": None, "results": [{"id": "a"}]}, response) == ([{"id": "a"}], None)
    assert split_page({"next": "https://x/api?page=2", "results": []}, response) == (
        [],
        "https://x/api?page=2",
    )
    with pytest.raises(KizenHTTPError, match="expected a page"):
        split_page([{"id": "a"}], response)


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize("status", [500, 502, 504])
def test_patch_and_delete_are_retried_after_any_5xx(method, status):
    call = call_for(method)
    assert isinstance(call.after_response(reply(call, status)), Retry)


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_patch_and_delete_are_retried_when_the_reply_was_lost(method):
    call = call_for(method)
    assert isinstance(call.after_transport_error(transport_error(httpx.ReadTimeout, call)), Retry)


def test_a_404_on_a_delete_that_may_already_have_happened_is_done():
    call = call_for("DELETE")
    call.after_transport_error(transport_error(httpx.RemoteProtocolError, call))
    gone = reply(call, 404, {"detail": "Not found.", "code": "not_found"})
    assert call.after_response(gone) == Done(gone)


@pytest.mark.parametrize(
    "first_failure",
    [
        pytest.param(lambda call: call.after_response(reply(call, 503)), id="503"),
        pytest.param(lambda call: call.after_response(reply(call, 429)), id="429"),
        pytest.param(
            lambda call: call.after_transport_error(transport_error(httpx.ConnectError, call)), id="connect"
        ),
    ],
)
def test_a_404_on_a_delete_after_attempts_kizen_never_processed_is_not_found(first_failure):
    call = call_for("DELETE")
    first_failure(call)
    with pytest.raises(KizenHTTPError) as raised:
        call.after_response(reply(call, 404, {"detail": "Not found.", "code": "not_found"}))
    assert raised.value.status == 404


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
def test_a_404_on_the_first_attempt_is_not_found(method):
    call = call_for(method)
    with pytest.raises(KizenHTTPError, match="Not found") as raised:
        call.after_response(reply(call, 404, {"detail": "Not found.", "code": "not_found"}))
    assert raised.value.status == 404


def test_a_404_on_a_retried_patch_is_still_not_found():
    call = call_for("PATCH")
    call.after_response(reply(call, 502))
    with pytest.raises(KizenHTTPError) as raised:
        call.after_response(reply(call, 404, {"detail": "Not found.", "code": "not_found"}))
    assert raised.value.status == 404
