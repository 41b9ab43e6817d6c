"""The `kizen-emulator` console script: it prints the connection to use, serves, and guards its host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from airflow_provider_kizen.emulator import seed
from airflow_provider_kizen.emulator.cli import main

SCRIPT = Path(sys.executable).with_name("kizen-emulator")


def test_the_console_script_prints_the_connection_uri_and_serves(tmp_path: Path) -> None:
    command = [
        *(str(SCRIPT), "--port", "0", "--state-file", str(tmp_path / "state.sqlite3"), "--seed", "3"),
        *("--put", "merge", "--completed-writes", "refuse", "--profile", "search-notes"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        address_line = process.stdout.readline().strip()
        uri_line = process.stdout.readline().strip()
        base_url = address_line.rsplit(" ", 1)[1]
        port = int(base_url.rsplit(":", 1)[1])
        assert address_line == f"Kizen emulator listening on http://127.0.0.1:{port}"
        assert uri_line == (
            f"AIRFLOW_CONN_KIZEN_DEFAULT='kizen://http://{seed.USER_ID}:{seed.API_KEY}@127.0.0.1:{port}"
            f"?business_id={seed.BUSINESS_ID}'"
        )
        headers = {"X-API-KEY": seed.API_KEY, "X-BUSINESS-ID": seed.BUSINESS_ID, "X-USER-ID": seed.USER_ID}
        response = httpx.get(f"{base_url}/api/custom-objects", headers=headers, timeout=10)
        assert response.status_code == 200
        rules = httpx.get(f"{base_url}/_emulator/update-rules", timeout=10).json()
        assert rules == {"put": "merge", "completed_writes": "refuse"}
        assert httpx.get(f"{base_url}/_emulator/profile", timeout=10).json()["search_scope"] == "notes"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (tmp_path / "state.sqlite3").exists()


def test_a_non_loopback_host_is_refused_without_the_explicit_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2

    assert "not loopback" in capsys.readouterr().err


def test_the_pytest_plugin_imports_nothing_heavy() -> None:
    check = (
        "import sys, airflow_provider_kizen.emulator.pytest_plugin; "
        "heavy = [m for m in ('airflow', 'fastapi', 'uvicorn', 'starlette') if m in sys.modules]; "
        "assert not heavy, heavy"
    )

    subprocess.run([sys.executable, "-c", check], check=True)
