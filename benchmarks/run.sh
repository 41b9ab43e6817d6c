#!/usr/bin/env bash
# Every benchmark, from nothing: creates the venv and installs everything first, then writes the
# figures into docs/performance.md (raw output in benchmarks/results/). `--quick` is a smoke run.
set -euo pipefail
source "$(dirname "$0")/../scripts/bootstrap.sh"
cd "$ROOT"
# Deployed Airflow has compiled bytecode; keep a cache (in a private prefix) so imports are not compiled
# again in every fresh interpreter.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$ROOT/benchmarks/results/pycache"
python -m benchmarks.run_all "$@"
