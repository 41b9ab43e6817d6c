"""httpx set-up shared by the hook's sync and async clients (the async one over aiohttp); it needs
nothing from Airflow."""

from __future__ import annotations

import os
import ssl
from typing import Any

import httpx

from airflow_provider_kizen.client.config import KizenConnectionConfig, is_loopback
from airflow_provider_kizen.client.errors import KizenConfigError


def client_options(config: KizenConnectionConfig) -> dict[str, Any]:
    """Keyword arguments for `httpx.Client` and `httpx.AsyncClient` alike."""
    return {
        "timeout": httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
        "verify": tls_verification(config),
        # A batch or a trigger sends many requests at once; keep their connections for the next round.
        "limits": httpx.Limits(max_connections=100, max_keepalive_connections=100),
        "follow_redirects": False,  # a redirect could carry the API key headers to another host
        "mounts": proxy_bypass(config),
    }


# The variables through which an https request may be sent via a proxy.
_HTTPS_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def async_client(config: KizenConnectionConfig) -> httpx.AsyncClient:
    """httpx's async client over aiohttp's pool and parser, about a quarter of httpx's own CPU per request.

    Behind a proxy named by the environment (HTTPS_PROXY...), it is httpx's own client, which reads
    those variables (and NO_PROXY); httpx ignores them for a transport given to it.
    """
    options = client_options(config)
    url = httpx.URL(config.base_url)
    proxied = url.scheme == "https" and not is_loopback(url.host)
    if proxied and any(os.environ.get(name) for name in _HTTPS_PROXY_VARIABLES):
        return httpx.AsyncClient(**options)
    from airflow_provider_kizen.client.aiohttp_transport import KizenAiohttpTransport  # not at DAG parse

    transport = KizenAiohttpTransport(verify=options["verify"], limits=options["limits"])
    return DirectAsyncClient(transport=transport, **options)


class DirectAsyncClient(httpx.AsyncClient):
    """An AsyncClient that hands a streamed request straight to its transport.

    The request core builds every request whole (URL, headers, body, timeouts) and wants no auth flow,
    redirects, cookies or event hooks; skipping that middleware saves about a third of the client's CPU
    per request. Any other use goes through httpx as usual.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **options: Any) -> None:
        super().__init__(transport=transport, **options)
        self._direct = transport

    async def send(self, request: httpx.Request, *, stream: bool = False, **options: Any) -> httpx.Response:
        if not stream or options or self.is_closed:
            return await super().send(request, stream=stream, **options)
        response = await self._direct.handle_async_request(request)
        response.request = request
        return response


def proxy_bypass(config: KizenConnectionConfig) -> dict[str, None]:
    """Routes that ignore the proxy variables (HTTP_PROXY, ALL_PROXY...): a None mount means no proxy.

    Plain http never goes through a proxy, which would read the API key in clear; https keeps the proxy,
    which only tunnels it. A loopback Base URL never leaves the machine, so it never needs one.
    """
    host = httpx.URL(config.base_url).host
    bypass: dict[str, None] = {"http://": None}
    if is_loopback(host):
        bypass[f"all://{host}" if ":" not in host else f"all://[{host}]"] = None
    return bypass


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
