#!/usr/bin/env bash
# Lint, type-check and test, from nothing: creates the venv and installs everything first.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k hook`.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT"
ruff check .
ruff format --check .
mypy
bash scripts/smoke-oldest.sh  # import-and-hook smoke test on the oldest supported Airflow
pytest "$@"
