"""Fixtures shared by the live test modules: one Kizen emulator and one sample warehouse per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_kizen.emulator.testing import EmulatorHandle, running_emulator

from .sample_warehouse import create_sample_warehouse


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite warehouse holding the example warehouse DAG's sample follow-up requests."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    create_sample_warehouse(path)
    return path
