#!/usr/bin/env bash
# Lint, type-check and test, from nothing: creates the venv and installs everything first.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k hook`.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT"
# The browser tests drive Debian's Chromium (Playwright's own download needs a host we cannot reach).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
ruff check .
ruff format --check .
mypy
bash scripts/smoke-oldest.sh  # import-and-hook smoke test on the oldest supported Airflow
pytest "$@"
