"""Running the emulator from Python tests: `running_emulator()` and the control client it hands out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from airflow_provider_kizen.emulator.profiles import Profile, resolve_profile
from airflow_provider_kizen.emulator.seed import API_KEY, BUSINESS_ID, USER_ID
from airflow_provider_kizen.emulator.update_rules import UpdateRules

_START_TIMEOUT_SECONDS = 10.0


class EmulatorControl:
    """A small sync client over the emulator's control plane (`/_emulator/`)."""

    def __init__(self, base_url: str) -> None:
        self._client = httpx.Client(base_url=f"{base_url}/_emulator", timeout=10.0)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        """Wipe activities, logged activities, the request log, faults and auto-complete.

        The profile and the update rules go back to the ones the emulator was started with.
        """
        self._call("POST", "/reset")

    def set_profile(self, profile: str | Profile | dict[str, Any] | None) -> None:
        """Answer as `profile` says (a name from `PROFILES`, a `Profile`, its fields; None: the default)."""
        self._call("PUT", "/profile", json=resolve_profile(profile).model_dump())

    def profile(self) -> Profile:
        """The profile in force."""
        return Profile.model_validate(self._call("GET", "/profile"))

    def activities(self) -> list[dict[str, Any]]:
        """Every stored scheduled activity, oldest first, in Kizen's read shape."""
        result: list[dict[str, Any]] = self._call("GET", "/activities")
        return result

    def requests(self, path_prefix: str | None = None) -> list[dict[str, Any]]:
        """The request log: method, path, query, status, body (parsed JSON or None), request_id, fault."""
        params = {"path_prefix": path_prefix} if path_prefix is not None else {}
        result: list[dict[str, Any]] = self._call("GET", "/requests", params=params)
        return result

    def complete(self, activity_id: str, *, after_seconds: float = 0) -> None:
        """Log the activity now or after a delay: it gets `completed_at` and `logged_activity_id`."""
        self._call("POST", f"/activities/{activity_id}/complete", json={"after_seconds": after_seconds})

    def auto_complete(self, after_seconds: float | None) -> None:
        """Complete every activity created from now on after `after_seconds`; None turns this off."""
        self._call("PUT", "/auto-complete", json={"after_seconds": after_seconds})

    def set_faults(
        self,
        *,
        path: str | None = None,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        rate_429: float = 0,
        retry_after_seconds: float = 1,
        rate_500: float = 0,
        rate_502: float = 0,
        rate_503: float = 0,
        rate_commit_then_drop: float = 0,
        max_in_flight: int | None = None,
        seed: int = 0,
        commit_on_500: bool | None = None,
        commit_on_502: bool = True,
    ) -> None:
        """Add the fault rule for `path` (a prefix; None: every Kizen path), replacing its earlier rule.

        `commit_on_500` / `commit_on_502` say whether such a request is processed (and its
        activity stored) before the error is answered; `commit_on_500=None` follows the profile.
        A 503 or 429 is never processed; a commit-then-drop always is.
        """
        self._call(
            "POST",
            "/faults",
            json={
                "path": path,
                "latency_ms": latency_ms,
                "jitter_ms": jitter_ms,
                "rate_429": rate_429,
                "retry_after_seconds": retry_after_seconds,
                "rate_500": rate_500,
                "rate_502": rate_502,
                "rate_503": rate_503,
                "rate_commit_then_drop": rate_commit_then_drop,
                "max_in_flight": max_in_flight,
                "seed": seed,
                "commit_on_500": commit_on_500,
                "commit_on_502": commit_on_502,
            },
        )

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_update_rules(self, *, put: str = "replace", completed_writes: str = "accept") -> None:
        """Choose the guesses about updates until the next reset (see `UpdateRules`).

        `put`: "replace" or "merge"; `completed_writes`: "accept", "note_only" or "refuse".
        """
        self._call("PUT", "/update-rules", json={"put": put, "completed_writes": completed_writes})

    def update_rules(self) -> dict[str, str]:
        """The update rules in force: `{"put": ..., "completed_writes": ...}`."""
        result: dict[str, str] = self._call("GET", "/update-rules")
        return result

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class EmulatorHandle:
    """A running emulator: where it is, its credentials, and its control client."""

    base_url: str
    business_id: str
    user_id: str
    api_key: str = field(repr=False)
    connection_uri: str = field(repr=False)
    control: EmulatorControl = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """The three auth headers Kizen requires."""
        return {"X-API-KEY": self.api_key, "X-BUSINESS-ID": self.business_id, "X-USER-ID": self.user_id}


def connection_uri(host: str, port: int) -> str:
    """The Airflow connection URI for an emulator (Airflow's host-with-protocol form)."""
    netloc_host = f"[{host}]" if ":" in host else host
    return (
        f"kizen://http://{quote(USER_ID, safe='')}:{quote(API_KEY, safe='')}@{netloc_host}:{port}"
        f"?business_id={quote(BUSINESS_ID, safe='')}"
    )


@contextmanager
def running_emulator(
    *,
    state_file: str | Path | None = None,
    port: int = 0,
    seed: int | None = None,
    profile: str | Profile | dict[str, Any] | None = None,
    update_rules: UpdateRules | None = None,
) -> Iterator[EmulatorHandle]:
    """Start the emulator (uvicorn in a background thread) on 127.0.0.1 and a free port.

    `seed` makes generated ids (activities, logged activities, request ids) reproducible. `profile`
    (a name from `PROFILES`, a `Profile` or its fields) picks the readings of Kizen's undocumented
    behaviour; `update_rules` are the guesses about updates it starts with. A reset comes back to both.
    """
    from airflow_provider_kizen.emulator.app import Emulator
    from airflow_provider_kizen.emulator.server import bind_socket, build_server

    sock = bind_socket("127.0.0.1", port)
    actual_port = sock.getsockname()[1]
    emulator = Emulator(
        state_file=state_file, seed=seed, profile=resolve_profile(profile), update_rules=update_rules
    )
    server = build_server(emulator, host="127.0.0.1", port=actual_port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="kizen-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            emulator.close()
            sock.close()
            raise RuntimeError(f"the Kizen emulator did not start on 127.0.0.1:{actual_port}")
        time.sleep(0.01)
    base_url = f"http://127.0.0.1:{actual_port}"
    control = EmulatorControl(base_url)
    try:
        yield EmulatorHandle(
            base_url=base_url,
            business_id=BUSINESS_ID,
            user_id=USER_ID,
            api_key=API_KEY,
            connection_uri=connection_uri("127.0.0.1", actual_port),
            control=control,
        )
    finally:
        control.close()
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_SECONDS)
        sock.close()
        emulator.close()
