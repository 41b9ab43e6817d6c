"""httpx set-up shared by the hook's sync and async clients; it needs nothing from Airflow."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from airflow_provider_kizen.client.config import KizenConnectionConfig
from airflow_provider_kizen.client.errors import KizenConfigError


def client_options(config: KizenConnectionConfig) -> dict[str, Any]:
    """Keyword arguments for `httpx.Client` and `httpx.AsyncClient` alike."""
    return {
        "timeout": httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
        "verify": tls_verification(config),
        # A batch or a trigger sends many requests at once; keep their connections for the next round.
        "limits": httpx.Limits(max_connections=100, max_keepalive_connections=100),
        "follow_redirects": False,  # a redirect could carry the API key headers to another host
    }


def tls_verification(config: KizenConnectionConfig) -> ssl.SSLContext | bool:
    """httpx's default certificates, or a context over the connection's CA bundle; never off."""
    if config.verify is True:
        return True  # httpx's default: the certifi bundle
    try:
        return ssl.create_default_context(cafile=str(config.verify))
    except (OSError, ssl.SSLError) as exc:
        raise KizenConfigError(
            f"cannot use the CA bundle {config.verify!r} from the extra ca_bundle: {exc}"
        ) from None


def unbound(response: httpx.Response) -> httpx.Response:
    """The response, read, without httpx's reference cycle between it and its stream.

    httpx's client binds every response's stream back to the response (encode/httpx#3733), so each
    request would leave a cycle that only the cyclic garbage collector frees. Thousands of reads, as a
    trigger watching many activities makes, would then keep the collector busy, and whatever is in
    flight at each collection survives into the oldest generation, until a full collection of the
    whole process stalls the event loop. `send()` has already read the body, so a plain stream over it
    is all the response needs.
    """
    response.stream = httpx.ByteStream(response.content)
    return response
