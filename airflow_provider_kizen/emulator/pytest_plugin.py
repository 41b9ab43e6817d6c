"""pytest plugin giving users' DAG tests a running Kizen emulator as the `kizen_emulator` fixture.

Installed through the `pytest11` entry point. It imports nothing heavy at import time (no Airflow,
FastAPI or uvicorn), so it costs nothing in test runs that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_kizen.emulator.testing import EmulatorHandle


@pytest.fixture(scope="session")
def kizen_emulator_server() -> Iterator[EmulatorHandle]:
    """One emulator for the whole session; prefer `kizen_emulator`, which also resets it."""
    from airflow_provider_kizen.emulator.testing import running_emulator

    with running_emulator() as handle:
        yield handle


@pytest.fixture
def kizen_emulator(kizen_emulator_server: EmulatorHandle) -> EmulatorHandle:
    """The session's emulator, reset (no activities, no faults, empty request log) for this test."""
    kizen_emulator_server.control.reset()
    return kizen_emulator_server
