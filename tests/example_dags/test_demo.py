"""The README's first command, `bash scripts/demo.sh`, works from a fresh demo directory."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_demo_schedules_completes_escalates_and_keeps_a_ledger(tmp_path: Path) -> None:
    # A clean shell: none of this test session's Airflow settings or connections leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        KIZEN_DEMO_DIR=str(tmp_path / "demo"),
        # The suite already runs inside the installed venv; the install step has its own CI job.
        KIZEN_DEMO_SKIP_BOOTSTRAP="1",
    )

    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        # Two DAG runs and an Airflow database migration: minutes on a busy machine.
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout
    assert "finished in state success" in summary
    assert re.search(r"scheduled: +6 follow-ups, new in Kizen", summary), summary
    assert re.search(r"completed: +2 high-priority follow-ups", summary), summary
    assert re.search(r"escalated: +1 high-priority follow-up past the deadline: katherine.johnson@", summary)
    assert re.search(r"ledger rows: 6 ", summary), summary
    assert "kizen_followup_escalation: run" in summary
    # The emulator it started is gone.
    port = re.search(r"running at http://127.0.0.1:(\d+)", summary)
    assert port is not None
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(port.group(1)))) != 0
