"""Many activities fast, and the ways Kizen may read the list filters, for the trigger's tests.

Kizen documents neither which field ``from_date``/``to_date`` compare nor at what granularity, nor
whether every filter is honoured (docs/sensor.md). `list_reading` makes the in-process emulator read
them one such way for one test, so the trigger is tested against each reading, not only against
the emulator's own (instants of ``due_datetime``, both bounds inclusive).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from airflow_provider_kizen.emulator.store import ActivityFilters, ActivityStore

Row = dict[str, Any]
CONTACT_EMAIL = "ada.lovelace@example.com"
NOTE = "Call Ada about her overdue invoice"


def _by_instant(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment <= end)


def _by_calendar_day(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    """Whole UTC days, the upper bound exclusive: the narrowest plausible reading."""
    day = moment.astimezone(UTC).date()
    return (start is None or day >= start.astimezone(UTC).date()) and (
        end is None or day < end.astimezone(UTC).date()
    )


def _reading(field: str | None, inside: Callable[..., bool], *, honours_completed: bool = True) -> Any:
    """A replacement for ActivityStore.query that applies the date filters to `field` with `inside`
    (or ignores them when `field` is None), and ignores `completed` unless `honours_completed`."""
    original = ActivityStore.query

    # Whatever else the store's query takes (a profile, a user) passes through untouched.
    def query(store: ActivityStore, filters: ActivityFilters, *args: Any, **kwargs: Any) -> list[Row]:
        wider = dataclasses.replace(
            filters,
            from_date=None,
            to_date=None,
            completed=filters.completed if honours_completed else None,
        )
        rows = original(store, wider, *args, **kwargs)
        if field is None:
            return rows
        return [
            row
            for row in rows
            if inside(datetime.fromisoformat(row[field]), filters.from_date, filters.to_date)
        ]

    return query


READINGS: dict[str, Any] = {
    "instant": None,  # the emulator as it is
    "calendar_day": _reading("due_datetime", _by_calendar_day),
    "created": _reading("created", _by_instant),
    "dates_ignored": _reading(None, _by_instant),
    "filters_ignored": _reading(None, _by_instant, honours_completed=False),
}


@pytest.fixture
def list_reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Parametrize indirectly with a name from READINGS; the emulator reads list filters that way."""
    return _read_lists(request.param, monkeypatch)


@pytest.fixture(params=list(READINGS))
def any_list_reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each reading in READINGS in turn."""
    return _read_lists(request.param, monkeypatch)


def _read_lists(name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    if READINGS[name] is not None:
        monkeypatch.setattr(ActivityStore, "query", READINGS[name])
    return name


@pytest.fixture
def personal_details() -> tuple[str, str]:
    """The note and the contact's email every `schedule_many` activity holds."""
    return NOTE, CONTACT_EMAIL


@pytest.fixture
def schedule_many(kizen_emulator, kizen_connection: str) -> Callable[[int], Awaitable[list[str]]]:  # type: ignore[no-untyped-def]
    """Schedule `count` follow-up calls on the emulator, 16 requests at a time, due over the next days,
    each with a note and a contact; returns their ids in order."""

    async def schedule(count: int) -> list[str]:
        first_due = datetime.now(UTC) + timedelta(days=1)
        payloads = [
            {
                "activity_object_name": "follow_up_call",
                "due_datetime": (first_due + timedelta(minutes=7 * number)).isoformat(),
                "note": NOTE,
                "associated_entities": [
                    {"custom_object": {"name": "client_client"}, "entity": {"name": CONTACT_EMAIL}}
                ],
            }
            for number in range(count)
        ]
        return await _create(kizen_emulator.base_url, kizen_emulator.headers, payloads)

    return schedule


async def _create(base_url: str, headers: dict[str, str], payloads: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = [""] * len(payloads)
    queue = iter(enumerate(payloads))
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:

        async def worker() -> None:
            for index, payload in queue:
                response = await client.post("/api/activities/scheduled-activity", json=payload)
                response.raise_for_status()
                ids[index] = response.json()["id"]

        await asyncio.gather(*(worker() for _ in range(16)))
    return ids
