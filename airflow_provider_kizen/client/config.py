"""KizenConnectionConfig: one parsed, validated `kizen` connection, shared by the sync and async paths.

The fields of an Airflow connection mean:

- host: the base URL. A full URL is taken as given, a bare host means https, empty means production.
  Airflow's URI form ``kizen://http://USER:KEY@127.0.0.1:8765`` splits the URL into host and port;
  they are joined again here.
- login: the Kizen user id; password: the API key; extra ``business_id``: the business id.
- other extras: ``allow_insecure_http``, ``ca_bundle``, ``timeout``, ``connect_timeout``, the retry
  settings ``max_attempts``, ``max_elapsed_seconds``, ``backoff_initial_seconds``, ``backoff_max_seconds``,
  the response limits ``max_response_bytes``, ``request_deadline_seconds``, ``max_pages``, and where
  Kizen's web app shows activities: ``web_url``, ``activity_link``, ``activities_link``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

from airflow_provider_kizen.client.errors import KizenConfigError
from airflow_provider_kizen.client.limits import ResponseLimits
from airflow_provider_kizen.client.policy import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://app.go.kizen.com"
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
# Kizen does not document its web app's URLs: these patterns are a guess, and extras override them.
DEFAULT_ACTIVITY_LINK = "{web_url}/activities/scheduled/{activity_id}"
DEFAULT_ACTIVITIES_LINK = "{web_url}/activities"

# Extras that hold retry settings: each is the RetryPolicy field of the same name.
RETRY_EXTRAS = ("max_attempts", "max_elapsed_seconds", "backoff_initial_seconds", "backoff_max_seconds")
LINK_EXTRAS = ("web_url", "activity_link", "activities_link")
# Extras that hold response limits: each is the ResponseLimits field of the same name.
LIMIT_EXTRAS = ("max_response_bytes", "request_deadline_seconds", "max_pages")
KNOWN_EXTRAS = frozenset(
    (
        "business_id",
        "allow_insecure_http",
        "ca_bundle",
        "timeout",
        "connect_timeout",
        *RETRY_EXTRAS,
        *LINK_EXTRAS,
        *LIMIT_EXTRAS,
    )
)
_FORM_PREFIX = "extra__kizen__"
_Settings = TypeVar("_Settings")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


class ConnectionFields(Protocol):
    """The parts of an Airflow Connection this module reads (the Task SDK's Connection has them)."""

    conn_id: str
    host: str | None
    port: int | None
    login: str | None
    password: str | None


@dataclass(frozen=True)
class KizenConnectionConfig:
    """Everything needed to call Kizen. Its repr never shows the API key."""

    base_url: str
    business_id: str
    user_id: str
    api_key: str = field(repr=False)
    verify: bool | str = True  # True, or the path of a CA bundle; verification is never turned off
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    limits: ResponseLimits = field(default_factory=ResponseLimits)
    web_url: str = DEFAULT_BASE_URL  # Kizen's web app; the Base URL unless the extra web_url says otherwise
    activity_link: str = DEFAULT_ACTIVITY_LINK
    activities_link: str = DEFAULT_ACTIVITIES_LINK

    def web_link(self, activity_ids: list[str]) -> str | None:
        """Where Kizen's web app shows these activities: the activity itself for one, the list for more."""
        if not activity_ids:
            return None
        if len(activity_ids) == 1:
            return self.activity_link.format(
                web_url=self.web_url, activity_id=quote(activity_ids[0], safe="")
            )
        return self.activities_link.format(web_url=self.web_url)


def parse_connection(
    conn: ConnectionFields,
    extra: Mapping[str, Any],
    *,
    timeout: float | None = None,
    retry_policy: RetryPolicy | None = None,
) -> KizenConnectionConfig:
    """Validate a `kizen` connection. Hook arguments (`timeout`, `retry_policy`) win over extras.

    :raises KizenConfigError: naming the connection and the field to fix.
    """
    where = f"Kizen connection {conn.conn_id!r}"
    # Older Airflow forms stored custom fields as extra__<conn type>__<field>; accept both spellings.
    extra = {key.removeprefix(_FORM_PREFIX): value for key, value in extra.items()}
    unknown = sorted(set(extra) - KNOWN_EXTRAS)
    if unknown:
        log.warning("%s: ignoring unknown extras %s", where, ", ".join(unknown))
    allow_http = _boolean(extra.get("allow_insecure_http"), f"{where}: extra allow_insecure_http")
    base_url = _base_url(conn.host, conn.port, allow_http=allow_http, where=where)
    business_id = str(extra.get("business_id") or "").strip()
    user_id = (conn.login or "").strip()
    api_key = (conn.password or "").strip()
    required = (
        ("Business ID (extra business_id)", business_id),
        ("User ID (login)", user_id),
        ("API key (password)", api_key),
    )
    missing = [name for name, value in required if not value]
    if missing:
        raise KizenConfigError(f"{where} is missing {', '.join(missing)}; see your Kizen 'My Profile' page.")
    ca_bundle = str(extra.get("ca_bundle") or "").strip()
    return KizenConnectionConfig(
        base_url=base_url,
        business_id=business_id,
        user_id=user_id,
        api_key=api_key,
        verify=ca_bundle or True,
        timeout_seconds=_first_number(
            timeout, extra.get("timeout"), DEFAULT_TIMEOUT_SECONDS, where, "timeout"
        ),
        connect_timeout_seconds=_first_number(
            None, extra.get("connect_timeout"), DEFAULT_CONNECT_TIMEOUT_SECONDS, where, "connect_timeout"
        ),
        retry_policy=retry_policy or _retry_policy(extra, where),
        **_web_links(extra, base_url, where),
        limits=_limits(extra, where),
    )


def is_loopback(hostname: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: hosts where plain http never leaves the machine."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def _base_url(host: str | None, port: int | None, *, allow_http: bool, where: str) -> str:
    raw = (host or "").strip() or DEFAULT_BASE_URL
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    # Checked before anything quotes the URL back: credentials in it must not reach an error message.
    if parts.username or parts.password or parts.query or parts.fragment:
        raise KizenConfigError(
            f"{where}: Base URL must hold only scheme, host, port and path; put the user id and API key "
            "in their own fields"
        )
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise KizenConfigError(f"{where}: Base URL {raw!r} is not an http(s) URL like {DEFAULT_BASE_URL}")
    try:
        url_port = parts.port
    except ValueError:
        raise KizenConfigError(
            f"{where}: Base URL {raw!r} has a port that is not a number up to 65535"
        ) from None
    netloc = parts.netloc
    if port:
        if url_port is not None and url_port != port:
            raise KizenConfigError(f"{where}: Base URL says port {url_port} but the port field says {port}")
        if url_port is None:
            netloc = f"{netloc}:{port}"
    if scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise KizenConfigError(
            f"{where}: refusing plain http to {parts.hostname}, which would send the API key unencrypted. "
            "Use https, or set the extra allow_insecure_http to true if you must."
        )
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _web_links(extra: Mapping[str, Any], base_url: str, where: str) -> dict[str, str]:
    """The web app's URL and link patterns, each pattern tried once so a typo fails here, not in a link."""
    web_url = str(extra.get("web_url") or "").strip().rstrip("/") or base_url
    if urlsplit(web_url).scheme not in ("http", "https"):
        raise KizenConfigError(f"{where}: extra web_url {web_url!r} is not an http(s) URL")
    links = {"web_url": web_url}
    for name, default in (
        ("activity_link", DEFAULT_ACTIVITY_LINK),
        ("activities_link", DEFAULT_ACTIVITIES_LINK),
    ):
        pattern = str(extra.get(name) or "").strip() or default
        try:
            pattern.format(web_url=web_url, activity_id="id")
        except (KeyError, IndexError, ValueError):
            raise KizenConfigError(
                f"{where}: extra {name} {pattern!r} may only use {{web_url}} and {{activity_id}}"
            ) from None
        links[name] = pattern
    return links


def _retry_policy(extra: Mapping[str, Any], where: str) -> RetryPolicy:
    return _from_extras(RetryPolicy, extra, RETRY_EXTRAS, where, whole=("max_attempts",))


def _limits(extra: Mapping[str, Any], where: str) -> ResponseLimits:
    return _from_extras(ResponseLimits, extra, LIMIT_EXTRAS, where, whole=("max_response_bytes", "max_pages"))


def _from_extras(
    settings: Callable[..., _Settings],
    extra: Mapping[str, Any],
    names: Iterable[str],
    where: str,
    *,
    whole: Container[str],
) -> _Settings:
    """A settings dataclass whose fields named `names` come from the extras of the same name, if given."""
    overrides: dict[str, float] = {}
    for name in names:
        if _present(extra.get(name)):
            number = _number(extra[name], f"{where}: extra {name}")
            overrides[name] = int(number) if name in whole else number
    try:
        return settings(**overrides)
    except ValueError as exc:
        raise KizenConfigError(f"{where}: {exc}") from None


def _first_number(argument: float | None, extra_value: Any, default: float, where: str, name: str) -> float:
    if argument is not None:
        return float(argument)
    if _present(extra_value):
        return _number(extra_value, f"{where}: extra {name}")
    return default


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise KizenConfigError(f"{what} must be a number, not {value!r}") from None
    if number <= 0:
        raise KizenConfigError(f"{what} must be positive, not {value!r}")
    return number


def _boolean(value: Any, what: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise KizenConfigError(f"{what} must be true or false, not {value!r}")
