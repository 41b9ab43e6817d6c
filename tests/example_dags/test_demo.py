"""The README's first command, `bash scripts/demo.sh`, works from a fresh demo directory, and again."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_demo(env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        # Three DAG runs and an Airflow database migration: minutes on a busy machine.
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_schedules_escalates_keeps_in_step_and_reruns_writing_nothing(tmp_path: Path) -> None:
    # A clean shell: none of this test session's Airflow settings or connections leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        KIZEN_DEMO_DIR=str(tmp_path / "demo"),
        # The suite already runs inside the installed venv; the install step has its own CI job.
        KIZEN_DEMO_SKIP_BOOTSTRAP="1",
    )

    summary = run_demo(env)

    assert summary.count("finished in state success") == 3, summary
    created, changed = re.findall(r"follow-ups: +(.*)", summary)
    assert created == "6 created, 0 updated, 0 unchanged, 0 completed, 0 cancelled"
    assert re.search(r"completed: +2 high-priority follow-ups", summary), summary
    assert re.search(r"escalated: +1 high-priority follow-up past the deadline: katherine.johnson@", summary)
    assert "kizen_followup_escalation: run" in summary
    # The sales team moved one follow-up, corrected one reason (two PATCHes) and closed one deal (one
    # DELETE); the two the rep logged are left alone.
    assert changed == "0 created, 2 updated, 1 unchanged, 2 completed, 1 cancelled"
    assert re.findall(r"writes: +(\d+) request", summary) == ["6", "3"]
    assert re.findall(r"ledger rows: (\d+) ", summary) == ["6", "5"]
    # The emulator it started is gone.
    port = re.search(r"running at http://127.0.0.1:(\d+)", summary)
    assert port is not None
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(port.group(1)))) != 0

    again = run_demo(env)

    # Everything is in step: every follow-up is read, none is written, and no escalation run starts.
    assert re.findall(r"follow-ups: +(.*)", again) == [
        "0 created, 0 updated, 3 unchanged, 2 completed, 0 cancelled"
    ]
    assert re.findall(r"writes: +(\d+) request", again) == ["0"]
    assert "kizen_followup_escalation: not started" in again
    assert again.count("finished in state success") == 1, again
