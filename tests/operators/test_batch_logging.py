"""The batch's hot path logs nothing per request at INFO: a ten times larger batch writes as many lines."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_kizen.operators.results import LOGGED_RECORDS, record_line
from airflow_provider_kizen.operators.scheduled_activity import ScheduleActivityOperator


class TaskInstance:
    try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


class StateStore:
    """The task_state_store surface the ledger uses, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def info_lines_of_a_batch(
    size: int, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> list[str]:
    records = [
        {
            "activity_object_name": "follow_up_call",
            "due_datetime": f"2027-03-01T{9 + n // 60:02d}:{n % 60:02d}:00Z",
        }
        for n in range(size)
    ]
    caplog.clear()
    capfd.readouterr()
    # Progress lines come by the clock, not per request: none here.
    operator = ScheduleActivityOperator(
        task_id="schedule", payload=records, max_concurrency=4, progress_interval=3600
    )
    operator.execute({"ti": TaskInstance(), "task_state_store": StateStore()})  # type: ignore[arg-type]
    # The task logger writes through structlog to the output; other loggers reach caplog. The emulator
    # serves from this process: its web server's access log is not the client's.
    printed = [line for line in "".join(capfd.readouterr()).splitlines() if "[info" in line]
    logged = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.INFO and not record.name.startswith("uvicorn")
    ]
    return printed + logged


def test_a_larger_batch_logs_no_more_lines(kizen_emulator, kizen_connection, caplog, capfd):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    # Airflow's logging configuration keeps httpx's one line per request at WARNING in tasks.
    caplog.set_level(logging.WARNING, logger="httpx")
    # A batch of at most LOGGED_RECORDS lists each record once it is done; both batches here are larger.
    small = info_lines_of_a_batch(LOGGED_RECORDS + 5, caplog, capfd)
    large = info_lines_of_a_batch(10 * (LOGGED_RECORDS + 5), caplog, capfd)
    assert any("Kizen batch finished" in line for line in large)
    assert len(large) == len(small), large


def test_a_record_line_names_the_fields_an_update_changed_but_not_their_values() -> None:
    result = {
        "index": 3,
        "record_key": "order-3",
        "status": "updated",
        "activity_id": "a1",
        "activity": {"due_datetime": "2026-06-01T07:00:00Z"},
        "changed_fields": ["due_datetime", "note"],
    }

    assert record_line(result) == (
        "record 3 (key order-3) → activity a1 (updated, changing due_datetime, note), "
        "due 2026-06-01T07:00:00Z"
    )
