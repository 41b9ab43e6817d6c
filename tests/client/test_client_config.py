"""The `kizen` connection: its UI, URI and JSON forms, the Base URL rules, extras, and test_connection()."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import httpx
import pytest
from airflow.sdk import Connection

from airflow_provider_kizen.client.config import DEFAULT_BASE_URL, is_loopback, parse_connection
from airflow_provider_kizen.client.errors import KizenConfigError
from airflow_provider_kizen.client.limits import ResponseLimits
from airflow_provider_kizen.client.policy import RetryPolicy
from airflow_provider_kizen.hooks.kizen import KizenHook

API_KEY = "kz-conn-test-SECRET/+=e4c1"  # characters that need quoting in a URI
USER_ID = "5b1d2c3e-0000-4000-8000-00000000000a"
BUSINESS_ID = "7c2e3d4f-0000-4000-8000-00000000000b"


def connection(extra: dict | None = None, **fields) -> Connection:
    values = {"conn_id": "kizen_test", "conn_type": "kizen", "login": USER_ID, "password": API_KEY, **fields}
    return Connection(**values, extra=json.dumps({"business_id": BUSINESS_ID} if extra is None else extra))


def parse(conn: Connection, **kwargs):
    return parse_connection(conn, conn.extra_dejson, **kwargs)


def test_ui_form():
    """What the connection form stores: the fields, and each custom field in the extra (unset ones null)."""
    conn = connection(
        host="https://app.go.kizen.com",
        extra={
            "business_id": BUSINESS_ID,
            "allow_insecure_http": False,
            "ca_bundle": None,
            "timeout": 45,
            "connect_timeout": None,
            "max_attempts": 3,
            "max_elapsed_seconds": None,
        },
    )
    config = parse(conn)
    assert config.base_url == "https://app.go.kizen.com"
    assert (config.user_id, config.api_key, config.business_id) == (USER_ID, API_KEY, BUSINESS_ID)
    assert config.verify is True
    assert config.timeout_seconds == 45
    assert config.connect_timeout_seconds == 10
    assert config.retry_policy == RetryPolicy(max_attempts=3)


def test_ui_form_with_string_values_and_prefixed_extras():
    conn = connection(
        host="app.go.kizen.com",
        extra={
            "extra__kizen__business_id": BUSINESS_ID,
            "extra__kizen__timeout": "12.5",
            "extra__kizen__allow_insecure_http": "false",
            "extra__kizen__max_attempts": "2",
        },
    )
    config = parse(conn)
    assert config.business_id == BUSINESS_ID
    assert config.timeout_seconds == 12.5
    assert config.retry_policy.max_attempts == 2


def test_uri_form(monkeypatch):
    uri = f"kizen://{quote(USER_ID)}:{quote(API_KEY, safe='')}@app.go.kizen.com?business_id={BUSINESS_ID}"
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", uri)
    config = KizenHook().get_config()
    assert config.base_url == "https://app.go.kizen.com"
    assert config.api_key == API_KEY
    assert config.business_id == BUSINESS_ID


def test_uri_form_with_protocol_in_host(monkeypatch):
    """Airflow splits `kizen://http://U:K@127.0.0.1:8765` into host "http://127.0.0.1" and port 8765."""
    uri = f"kizen://http://{USER_ID}:{quote(API_KEY, safe='')}@127.0.0.1:8765?business_id={BUSINESS_ID}"
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", uri)
    config = KizenHook().get_config()
    assert config.base_url == "http://127.0.0.1:8765"
    assert config.api_key == API_KEY


def test_json_form(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_KIZEN_DEFAULT",
        json.dumps(
            {
                "conn_type": "kizen",
                "host": "https://app.fmo.kizen.com",
                "login": USER_ID,
                "password": API_KEY,
                "extra": {"business_id": BUSINESS_ID, "max_elapsed_seconds": 30},
            }
        ),
    )
    config = KizenHook(timeout=5).get_config()
    assert config.base_url == "https://app.fmo.kizen.com"
    assert config.timeout_seconds == 5
    assert config.retry_policy.max_elapsed_seconds == 30


async def test_async_path_parses_the_same_config(monkeypatch):
    uri = f"kizen://{USER_ID}:{quote(API_KEY, safe='')}@app.go.kizen.com?business_id={BUSINESS_ID}&timeout=7"
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", uri)
    assert await KizenHook().aget_config() == KizenHook().get_config()


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        (None, None, DEFAULT_BASE_URL),
        ("", None, DEFAULT_BASE_URL),
        ("app.fmo.kizen.com", None, "https://app.fmo.kizen.com"),
        ("https://app.go.kizen.com/", None, "https://app.go.kizen.com"),
        ("HTTPS://app.go.kizen.com", None, "https://app.go.kizen.com"),
        ("127.0.0.1:8765", None, "https://127.0.0.1:8765"),
        ("http://127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("http://localhost:8765", 8765, "http://localhost:8765"),
        ("http://[::1]:8765", None, "http://[::1]:8765"),
        ("https://proxy.example/kizen/", None, "https://proxy.example/kizen"),
    ],
)
def test_base_url_rules(host, port, base_url):
    assert parse(connection(host=host, port=port)).base_url == base_url


@pytest.mark.parametrize(
    ("host", "port", "words"),
    [
        ("http://app.go.kizen.com", None, "refusing plain http to app.go.kizen.com"),
        ("ftp://app.go.kizen.com", None, "is not an http"),
        ("https://app.go.kizen.com?x=1", None, "only scheme, host, port and path"),
        ("https://app.go.kizen.com:443", 8443, "port 443 but the port field says 8443"),
        ("https://app.go.kizen.com:44x3", None, "has a port that is not a number"),
        ("https://app.go.kizen.com:99999", 8443, "has a port that is not a number"),
    ],
)
def test_bad_base_urls(host, port, words):
    with pytest.raises(KizenConfigError, match=words):
        parse(connection(host=host, port=port))


@pytest.mark.parametrize("host", ["ftp://user-1:kz-SECRET@app.go.kizen.com", "https://user-1:kz-SECRET@"])
def test_a_base_url_with_a_key_in_it_is_refused_without_quoting_the_key(host):
    with pytest.raises(KizenConfigError, match="only scheme, host, port and path") as caught:
        parse(connection(host=host))
    assert "kz-SECRET" not in str(caught.value)


@pytest.mark.parametrize("allow", [True, "true", "True", "1"])
def test_plain_http_allowed_on_request(allow):
    conn = connection(
        host="http://kizen.internal", extra={"business_id": BUSINESS_ID, "allow_insecure_http": allow}
    )
    assert parse(conn).base_url == "http://kizen.internal"


def test_allow_insecure_http_must_be_a_boolean():
    conn = connection(
        host="http://kizen.internal", extra={"business_id": BUSINESS_ID, "allow_insecure_http": "maybe"}
    )
    with pytest.raises(KizenConfigError, match="allow_insecure_http must be true or false"):
        parse(conn)


@pytest.mark.parametrize(
    ("hostname", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("app.go.kizen.com", False),
    ],
)
def test_is_loopback(hostname, loopback):
    assert is_loopback(hostname) is loopback


def test_missing_credentials_are_all_named():
    conn = Connection(conn_id="kizen_test", conn_type="kizen", host="app.go.kizen.com")
    with pytest.raises(KizenConfigError) as raised:
        parse(conn)
    message = str(raised.value)
    for words in ("Business ID (extra business_id)", "User ID (login)", "API key (password)", "'kizen_test'"):
        assert words in message


def test_missing_business_id_does_not_reveal_the_key():
    with pytest.raises(KizenConfigError) as raised:
        parse(connection(extra={}))
    assert "Business ID" in str(raised.value)
    assert API_KEY not in str(raised.value) + repr(raised.value)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"timeout": "soon"}, "extra timeout must be a number"),
        ({"timeout": -1}, "extra timeout must be positive"),
        ({"max_attempts": 0}, "extra max_attempts must be positive"),
        ({"backoff_initial_seconds": "x"}, "extra backoff_initial_seconds must be a number"),
        ({"max_response_bytes": 0}, "extra max_response_bytes must be positive"),
        ({"request_deadline_seconds": "never"}, "extra request_deadline_seconds must be a number"),
        ({"max_pages": 0.5}, "max_pages must be positive"),
    ],
)
def test_bad_numeric_extras(extra, words):
    with pytest.raises(KizenConfigError, match=words):
        parse(connection(extra={"business_id": BUSINESS_ID, **extra}))


def test_hook_arguments_win_over_extras():
    conn = connection(extra={"business_id": BUSINESS_ID, "timeout": 99, "max_attempts": 9})
    policy = RetryPolicy(max_attempts=1)
    config = parse(conn, timeout=3, retry_policy=policy)
    assert config.timeout_seconds == 3
    assert config.retry_policy is policy


def test_retry_extras_build_the_policy():
    extra = {
        "business_id": BUSINESS_ID,
        "max_attempts": 7,
        "max_elapsed_seconds": 60,
        "backoff_initial_seconds": 0.25,
        "backoff_max_seconds": 8,
    }
    assert parse(connection(extra=extra)).retry_policy == RetryPolicy(
        max_attempts=7, max_elapsed_seconds=60, backoff_initial_seconds=0.25, backoff_max_seconds=8
    )


def test_limit_extras_build_the_limits_and_default_to_what_fits_kizen():
    assert parse(connection(extra={"business_id": BUSINESS_ID})).limits == ResponseLimits(
        max_response_bytes=32 * 1024 * 1024, request_deadline_seconds=120, max_pages=1000
    )
    extra = {
        "business_id": BUSINESS_ID,
        "max_response_bytes": "1048576",
        "request_deadline_seconds": 7.5,
        "max_pages": 12,
    }
    assert parse(connection(extra=extra)).limits == ResponseLimits(
        max_response_bytes=1048576, request_deadline_seconds=7.5, max_pages=12
    )


def test_unknown_extras_are_reported(caplog):
    with caplog.at_level(logging.WARNING, logger="airflow_provider_kizen.client.config"):
        parse(connection(extra={"business_id": BUSINESS_ID, "buisness_id": "typo"}))
    assert "ignoring unknown extras buisness_id" in caplog.text


def test_ca_bundle(tmp_path, monkeypatch):
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv(
        "AIRFLOW_CONN_KIZEN_DEFAULT",
        json.dumps(
            {
                "conn_type": "kizen",
                "host": "https://kizen.internal",
                "login": USER_ID,
                "password": API_KEY,
                "extra": {"business_id": BUSINESS_ID, "ca_bundle": str(missing)},
            }
        ),
    )
    hook = KizenHook()
    assert hook.get_config().verify == str(missing)
    with pytest.raises(KizenConfigError, match="cannot use the CA bundle"):
        hook.get_conn()


def test_config_repr_hides_the_key():
    config = parse(connection(host="app.go.kizen.com"))
    assert API_KEY not in repr(config)
    assert API_KEY not in str(config)


# -- test_connection() -----------------------------------------------------------------------------------


@pytest.fixture
def answering(monkeypatch, mocker):
    """A hook on a JSON-form connection whose HTTP is answered by `handler`."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_KIZEN_DEFAULT",
        json.dumps(
            {
                "conn_type": "kizen",
                "host": "https://kizen.example",
                "login": USER_ID,
                "password": API_KEY,
                "extra": {"business_id": BUSINESS_ID},
            }
        ),
    )

    def build(handler) -> KizenHook:
        hook = KizenHook()
        client = httpx.Client(transport=httpx.MockTransport(handler))
        mocker.patch.object(hook, "get_conn", return_value=client)
        return hook

    return build


def test_connection_success(answering):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/custom-objects"
        assert request.url.params["page_size"] == "1"
        return httpx.Response(200, json={"count": 1, "next": None, "previous": None, "results": [{}]})

    ok, message = answering(handler).test_connection()
    assert ok
    assert message == f"Connected to Kizen at https://kizen.example as user {USER_ID}."


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (httpx.Response(401, json={"detail": "Invalid API key."}), "Check the API key and the User ID"),
        (httpx.Response(403, json={"detail": "Not a member."}), "Check the Business ID"),
        (httpx.Response(404, text="<html>Not found</html>"), "no API at this Base URL"),
        (
            httpx.Response(200, text="<html>Sign in</html>", headers={"Content-Type": "text/html"}),
            "expected JSON from Kizen but got text/html",
        ),
        (httpx.Response(500, json={"detail": "Server Error"}), "500"),
    ],
)
def test_connection_failures_say_what_to_fix(answering, response, words):
    ok, message = answering(lambda request: response).test_connection()
    assert not ok
    assert words in message
    assert API_KEY not in message


def test_connection_dns_failure(answering):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    ok, message = answering(handler).test_connection()
    assert not ok
    assert "could not resolve the host kizen.example" in message
    assert "check the Base URL" in message


def test_connection_bad_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", f"kizen://{USER_ID}:key@app.go.kizen.com")
    ok, message = KizenHook().test_connection()
    assert not ok
    assert "Business ID" in message


def test_connection_against_the_emulator(kizen_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", kizen_emulator.connection_uri)
    ok, message = KizenHook().test_connection()
    assert ok, message
    assert kizen_emulator.control.requests("/api/custom-objects")[0]["query"] == {"page_size": "1"}


def emulator_connection(kizen_emulator, **overrides) -> str:
    fields = {
        "conn_type": "kizen",
        "host": kizen_emulator.base_url,
        "login": kizen_emulator.user_id,
        "password": kizen_emulator.api_key,
        "extra": {"business_id": kizen_emulator.business_id},
        **overrides,
    }
    return json.dumps(fields)


def test_connection_wrong_key_against_the_emulator(kizen_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", emulator_connection(kizen_emulator, password=API_KEY))
    ok, message = KizenHook().test_connection()
    assert not ok
    assert "401" in message
    assert "Check the API key" in message
    assert API_KEY not in message


def test_connection_wrong_business_against_the_emulator(kizen_emulator, monkeypatch):
    extra = {"business_id": BUSINESS_ID}
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", emulator_connection(kizen_emulator, extra=extra))
    ok, message = KizenHook().test_connection()
    assert not ok
    assert "403" in message
    assert "Check the Business ID" in message


def test_connection_tls_failure_over_loopback(kizen_emulator, monkeypatch):
    """https to a server that speaks plain http fails the handshake; the answer says where to look."""
    https_url = kizen_emulator.base_url.replace("http://", "https://")
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_DEFAULT", emulator_connection(kizen_emulator, host=https_url))
    ok, message = KizenHook().test_connection()
    assert not ok
    assert "TLS handshake with 127.0.0.1 failed" in message
    assert "ca_bundle" in message


def test_the_ui_test_button_path(kizen_emulator, monkeypatch):
    """What the API server does on "Test": the form becomes a URI env var, then the hook runs."""
    from airflow.models.connection import Connection as StoredConnection

    base_url = httpx.URL(kizen_emulator.base_url)
    form = StoredConnection(
        conn_id="kizen_form_test",
        conn_type="kizen",
        host=f"http://{base_url.host}",
        port=base_url.port,
        login=kizen_emulator.user_id,
        password=kizen_emulator.api_key,
        extra=json.dumps(
            {
                "business_id": kizen_emulator.business_id,
                "allow_insecure_http": False,
                "ca_bundle": None,
                "timeout": None,
                "max_attempts": 2,
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW_CONN_KIZEN_FORM_TEST", form.get_uri())
    ok, message = form.test_connection()
    assert ok, message
    assert message.startswith(f"Connected to Kizen at {kizen_emulator.base_url}")


def test_web_links_default_to_the_base_url_and_a_guessed_pattern():
    config = parse(connection(host="https://app.fmo.kizen.com"))

    assert config.web_link([]) is None
    assert config.web_link(["a/1"]) == "https://app.fmo.kizen.com/activities/scheduled/a%2F1"
    assert config.web_link(["a1", "b2"]) == "https://app.fmo.kizen.com/activities"


def test_web_links_follow_the_extras():
    extra = {
        "business_id": BUSINESS_ID,
        "web_url": "https://kizen.example/app/",
        "activity_link": "{web_url}/activity/{activity_id}?tab=details",
        "activities_link": "{web_url}/activity",
    }

    config = parse(connection(extra))

    assert config.web_link(["a1"]) == "https://kizen.example/app/activity/a1?tab=details"
    assert config.web_link(["a1", "b2"]) == "https://kizen.example/app/activity"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"activity_link": "{web_url}/activities/{id}"}, "extra activity_link"),
        ({"activities_link": "{web_url}/{0}"}, "extra activities_link"),
        ({"web_url": "kizen.example"}, "extra web_url"),
    ],
)
def test_a_web_link_extra_that_cannot_work_names_itself(extra: dict, words: str):
    with pytest.raises(KizenConfigError, match=words) as raised:
        parse(connection({"business_id": BUSINESS_ID, **extra}))

    assert "'kizen_test'" in str(raised.value)
