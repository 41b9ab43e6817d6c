"""DAG files import the operator and the sensor at parse time: they must not drag heavy modules along."""

from __future__ import annotations

import json
import subprocess
import sys

# Loaded only when a task runs: the hook and its client, the batch and its lookups, and the sensor's
# sweep; the trigger (and the triggerer's machinery) when the sensor defers, the async client's aiohttp
# transport when a batch or trigger starts, Jinja when a template is rendered, the emulator and its web
# stack only in tests and demos.
LOADED_ON_USE = (
    "airflow_provider_kizen.hooks",
    "airflow_provider_kizen.client.core",
    "airflow_provider_kizen.operators.batch",
    "airflow_provider_kizen.operators.lookup",
    "airflow_provider_kizen.triggers",
    "airflow_provider_kizen.client.aiohttp_transport",
    "aiohttp",
    "httpx_aiohttp",
    "jinja2",
    "airflow_provider_kizen.emulator",
    "fastapi",
    "uvicorn",
)

PROBE = """
import json, sys
import airflow.sdk
before = set(sys.modules)
import airflow_provider_kizen.operators.scheduled_activity
import airflow_provider_kizen.sensors.scheduled_activity
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_parsing_a_dag_loads_no_trigger_transport_emulator_or_web_stack() -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True)
    added = json.loads(probe.stdout.strip().splitlines()[-1])
    assert "airflow_provider_kizen.operators.scheduled_activity" in added  # the probe measured something
    heavy = [name for name in added if any(name == m or name.startswith(f"{m}.") for m in LOADED_ON_USE)]
    assert heavy == []
