"""pytest plugin giving users' DAG tests a running Kizen emulator as the `kizen_emulator` fixture.

Opt-in: a test suite enables it with ``pytest_plugins = ["airflow_provider_kizen.emulator.pytest_plugin"]``
in its top-level conftest.py, or ``-p airflow_provider_kizen.emulator.pytest_plugin`` on the command
line. Installing the provider does not register it, so its fixtures reach no other test session. It
imports nothing heavy at import time (no Airflow, FastAPI or uvicorn).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_kizen.emulator.profiles import Profile
    from airflow_provider_kizen.emulator.testing import EmulatorHandle
    from airflow_provider_kizen.emulator.update_rules import UpdateRules


@pytest.fixture(scope="session")
def kizen_emulator_server() -> Iterator[EmulatorHandle]:
    """One emulator for the whole session; prefer `kizen_emulator`, which also resets it."""
    from airflow_provider_kizen.emulator.testing import running_emulator

    with running_emulator() as handle:
        yield handle


@pytest.fixture
def kizen_emulator_profile() -> str | Profile | dict[str, Any] | None:
    """The emulator profile for one test: override or parametrize this fixture (None: the default)."""
    return None


@pytest.fixture
def kizen_emulator_update_rules() -> UpdateRules | None:
    """The emulator's update rules for one test: override or parametrize this fixture (None: the default)."""
    return None


@pytest.fixture
def kizen_emulator(
    kizen_emulator_server: EmulatorHandle,
    kizen_emulator_profile: str | Profile | dict[str, Any] | None,
    kizen_emulator_update_rules: UpdateRules | None,
) -> EmulatorHandle:
    """The session's emulator, reset (no activities, no faults, empty request log) for this test.

    It answers as `kizen_emulator_profile` says and updates as `kizen_emulator_update_rules` say.
    """
    kizen_emulator_server.control.reset()
    if kizen_emulator_profile is not None:
        kizen_emulator_server.control.set_profile(kizen_emulator_profile)
    if kizen_emulator_update_rules is not None:
        kizen_emulator_server.control.set_update_rules(**kizen_emulator_update_rules.model_dump())
    return kizen_emulator_server
