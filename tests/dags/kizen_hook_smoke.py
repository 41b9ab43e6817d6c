"""KizenHook inside a real Airflow task: create, get and list, sync and async."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_kizen.hooks.kizen import KizenHook


def _payload(note: str) -> dict[str, Any]:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return {
        "activity_object_name": "follow_up_call",
        "due_datetime": due.isoformat(),
        "note": note,
        "associated_entities": [
            {"custom_object": {"name": "client_client"}, "entity": {"name": "ada.lovelace@example.com"}}
        ],
    }


async def _async_calls() -> dict[str, Any]:
    hook = KizenHook()
    try:
        created = await hook.acreate_scheduled_activity(_payload("async smoke"))
        fetched = await hook.aget_scheduled_activity(created.id)
        listed = [activity.id async for activity in hook.alist_scheduled_activities(search="async smoke")]
        return {"id": created.id, "fetched": fetched.id, "listed": listed}
    finally:
        await hook.aclose()


@dag(schedule=None, catchup=False, tags=["test"])
def kizen_hook_smoke() -> None:
    @task
    def hook_calls() -> dict[str, Any]:
        """The sync methods, then their async twins in an event loop (one task keeps the test quick)."""
        hook = KizenHook()
        try:
            created = hook.create_scheduled_activity(_payload("sync smoke"))
            fetched = hook.get_scheduled_activity(created.id)
            listed = [activity.id for activity in hook.list_scheduled_activities(search="sync smoke")]
            hook.log.info("created scheduled activity %s", created.id)
        finally:
            hook.close()
        return {
            "sync": {"id": created.id, "fetched": fetched.id, "listed": listed},
            "async": asyncio.run(_async_calls()),
        }

    hook_calls()


kizen_hook_smoke()
