#!/usr/bin/env bash
# Smoke-test the provider on the oldest Airflow it supports (the lower bound of apache-airflow in
# pyproject.toml): a separate .venv-oldest with that exact Airflow, this package, and tests/smoke
# (imports, the hook, and the operator and deferrable sensor in a dag.test() run against the emulator).
# Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV="$ROOT/.venv/bin/uv"
VENV="$ROOT/.venv-oldest"
[ -x "$UV" ] || source "$ROOT/scripts/bootstrap.sh"
OLDEST="$("$ROOT/.venv/bin/python" - "$ROOT/pyproject.toml" <<'PY'
import re, sys, tomllib
with open(sys.argv[1], "rb") as pyproject:
    dependencies = tomllib.load(pyproject)["project"]["dependencies"]
(bound,) = [m.group(1) for d in dependencies if (m := re.fullmatch(r"apache-airflow>=([\w.]+)", d))]
print(bound)
PY
)"
if [ ! -x "$VENV/bin/python" ]; then
    "$UV" venv --quiet --python "$ROOT/.venv/bin/python" "$VENV"
fi
"$UV" pip install --quiet --python "$VENV/bin/python" \
    "apache-airflow==$OLDEST" -e "$ROOT" "pytest>=8" "pytest-asyncio>=0.24"
cd "$ROOT"
echo "Smoke test on Airflow $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("apache-airflow"))')"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/smoke "$@"
