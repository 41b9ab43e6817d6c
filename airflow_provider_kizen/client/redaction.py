"""Removing the connection's secrets from anything a server says, before it reaches an error or a log.

A server, or a proxy in front of it, may echo the request headers in an error body, a reason phrase
or a malformed header line. Airflow's log masking cannot be relied on for this: a worker that resumes
a deferred task never reads the connection, so the key is never registered for masking there. The
secrets are therefore taken from the request the text answers, which every process that sends a
request has, and replaced wherever server text enters the provider (see ``client.core``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote

import httpx

REDACTED = "[redacted]"
# Request headers whose values are credentials.
SECRET_HEADERS = ("X-API-KEY", "Authorization", "Proxy-Authorization", "Cookie")


def request_secrets(request: httpx.Request) -> tuple[str, ...]:
    """The credentials a request carries, in the spellings a server might echo them in."""
    secrets: set[str] = set()
    for name in SECRET_HEADERS:
        for value in request.headers.get_list(name):
            value = value.strip()
            if value:
                secrets.update((value, quote(value, safe=""), json.dumps(value)[1:-1]))
    if request.url.password:
        secrets.add(request.url.password)
    # Longest first, so a secret that contains another is replaced whole.
    return tuple(sorted(secrets, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by ``[redacted]``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_field_errors(field_errors: dict[str, list[str]], secrets: Iterable[str]) -> dict[str, list[str]]:
    """Field errors with secrets removed from the field names and from the messages."""
    secrets = tuple(secrets)
    return {
        redact(name, secrets): [redact(message, secrets) for message in messages]
        for name, messages in field_errors.items()
    }
