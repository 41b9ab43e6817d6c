"""The optional SQLite file behind `--state-file`: every write goes through, so a restart loses nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scheduled_activity (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL, complete_at REAL
);
CREATE TABLE IF NOT EXISTS logged_activity (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS setting (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SqliteState:
    """Write-through persistence of scheduled activities, logged activities and settings."""

    def __init__(self, path: str | Path) -> None:
        # The server's event loop is the only writer, but it runs in another thread than the one
        # that opens the file.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def scheduled_activities(self) -> list[tuple[int, dict[str, Any], float | None]]:
        rows = self._db.execute("SELECT seq, data, complete_at FROM scheduled_activity ORDER BY seq")
        return [(seq, json.loads(data), complete_at) for seq, data, complete_at in rows]

    def logged_activities(self) -> list[dict[str, Any]]:
        return [json.loads(data) for (data,) in self._db.execute("SELECT data FROM logged_activity")]

    def setting(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def save_scheduled_activity(self, seq: int, data: dict[str, Any], complete_at: float | None) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO scheduled_activity (id, seq, data, complete_at) VALUES (?, ?, ?, ?)",
            (data["id"], seq, json.dumps(data), complete_at),
        )

    def delete_scheduled_activity(self, activity_id: str) -> None:
        self._db.execute("DELETE FROM scheduled_activity WHERE id = ?", (activity_id,))

    def save_logged_activity(self, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO logged_activity (id, data) VALUES (?, ?)", (data["id"], json.dumps(data))
        )

    def save_setting(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO setting (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    def clear(self) -> None:
        self._db.executescript(
            "DELETE FROM scheduled_activity; DELETE FROM logged_activity; DELETE FROM setting;"
        )

    def close(self) -> None:
        self._db.close()
