"""Chromium driven by Playwright against a live Airflow and a Kizen emulator, one of each per module.

Debian's `chromium` is used (Playwright's own browser download needs a host we cannot reach); the
test command installs it. Without it the tests skip, except under CI=true. A failing test leaves a
full-page screenshot, and the report names the file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# tests/ is on sys.path (it is no package), so its conftest and live/ import by these names.
from conftest import require_service
from live.airflow_process import LiveAirflow, running_airflow

from airflow_provider_kizen.emulator.testing import EmulatorHandle, running_emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("KIZEN_TEST_CHROMIUM", "/usr/bin/chromium"))
MANUAL_DAG = "kizen_manual_followup"
# A laptop's screen: what a person would see without scrolling.
VIEWPORT = {"width": 1280, "height": 900}
# The machine may be busy; a person waits too.
UI_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def airflow(
    chromium: Path, tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle
) -> Iterator[LiveAirflow]:
    """Airflow with the manual follow-up DAG; the UI lets everyone in as admin."""
    home = tmp_path_factory.mktemp("airflow-home")
    dags_folder = home / "dags"
    dags_folder.mkdir()
    shutil.copy(REPO_ROOT / "example_dags" / f"{MANUAL_DAG}.py", dags_folder)
    env = {
        "AIRFLOW_CONN_KIZEN_DEFAULT": emulator.connection_uri,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }
    with running_airflow(home, dags_folder, extra_env=env) as live:
        live.wait_for_dags([MANUAL_DAG])
        live.unpause(MANUAL_DAG)
        yield live
    timings = {phase: round(took, 1) for phase, took in live.timings.items()}
    print("browser Airflow phases (seconds):", timings)
    live.wait_until_gone()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        require_service("Playwright", str(error))
    with sync_playwright() as playwright:
        # Chromium's sandbox needs a user namespace that root in a container does not get.
        launched = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT, timezone_id="UTC")
    opened = context.new_page()
    opened.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    yield opened
    context.close()


def _screenshot_dir() -> Path:
    """One directory per session, made at the first failure, outside pytest's rotating temp dirs."""
    global _screenshots
    if _screenshots is None:
        _screenshots = Path(tempfile.mkdtemp(prefix="kizen-browser-screenshots-"))
    return _screenshots


_screenshots: Path | None = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, save what the page showed and name the file in the report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    page = getattr(item, "funcargs", {}).get("page")
    if report.when != "call" or not report.failed or page is None:
        return
    path = _screenshot_dir() / f"{item.name}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as error:  # the page may be gone; the failure itself matters more
        report.sections.append(("screenshot", f"could not be taken: {error}"))
        return
    report.sections.append(("screenshot", f"the page at the failure: {path}"))
