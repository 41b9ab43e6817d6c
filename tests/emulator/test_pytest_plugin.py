"""The emulator's pytest plugin is opt-in: installing the provider registers none."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points


def test_the_installed_provider_registers_no_pytest_plugin() -> None:
    provider = distribution("airflow-provider-kizen")
    groups = {entry_point.group for entry_point in provider.entry_points}
    assert "apache_airflow_provider" in groups  # the metadata read is the installed provider's
    assert "pytest11" not in groups
    assert not [ep for ep in entry_points(group="pytest11") if ep.value.startswith("airflow_provider_kizen")]


def test_this_suite_opts_in(kizen_emulator) -> None:  # type: ignore[no-untyped-def]
    assert kizen_emulator.control.activities() == []
