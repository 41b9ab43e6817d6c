"""Import-and-hook smoke test, run by scripts/smoke-oldest.sh on the oldest supported Airflow.

The operator and the sensor have their own smoke test beside this one.

It also runs in the main suite. It needs nothing beyond pytest, pytest-asyncio and the package (with
the Airflow it installs, which brings jsonschema).
"""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_kizen import get_provider_info
from airflow_provider_kizen.hooks.kizen import KizenHook

PAYLOAD = {
    "activity_object_name": "follow_up_call",
    "due_datetime": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
    "note": "smoke",
}


def test_provider_info_is_valid_for_this_airflow():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_module_imports():
    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)


def test_sync_hook(kizen_connection, kizen_emulator):
    hook = KizenHook()
    try:
        assert hook.test_connection()[0]
        created = hook.create_scheduled_activity(PAYLOAD)
        assert hook.get_scheduled_activity(created.id).note == "smoke"
        assert [activity.id for activity in hook.list_scheduled_activities()] == [created.id]
    finally:
        hook.close()


async def test_async_hook(kizen_connection, kizen_emulator):
    hook = KizenHook()
    try:
        created = await hook.acreate_scheduled_activity(PAYLOAD)
        assert (await hook.aget_scheduled_activity(created.id)).note == "smoke"
        assert [activity.id async for activity in hook.alist_scheduled_activities()] == [created.id]
    finally:
        await hook.aclose()
